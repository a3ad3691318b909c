"""``advisor worker``: another process or device joins a study and runs trials for it, or, with
``--measure-only``, a board measures what a workstation compresses (:mod:`advisor.measure.remote`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from advisor.cli._common import (
    UsageError,
    emit_json,
    folder_option,
    int_option,
    progress_context,
    storage_option,
    study_option,
)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker", help="join a study (another process or device) and run its trials",
        description="Load the study's job (model, data, budget, strategies), measure the original here, "
                    "and run trials until the study has its number of finished trials.",
        epilog="example: advisor worker --storage postgresql://advisor@db:5432/advisor "
               "--study advise-digits-cnn-1a2b3c4d5e",
    )
    p.add_argument("--storage", required=True, type=storage_option, metavar="URL",
                   help="the study's Optuna storage URL")
    p.add_argument("--study", type=study_option, metavar="NAME", help="the study to join (not with --measure-only)")
    p.add_argument("--measure-only", action="store_true",
                   help="be a measuring target: profile this device, then measure what a workstation's "
                        "`advise --measure-on NAME` sends (needs only the [target] install: no torch)")
    p.add_argument("--device", type=study_option, metavar="NAME", help="this measuring target's name (--measure-only)")
    p.add_argument("--artifacts", type=folder_option, metavar="DIR",
                   help="the artifact store's folder, if the workstation gave one (--measure-only)")
    p.add_argument("--trials", type=int_option(1), metavar="N",
                   help="run until the study has N finished trials (default: the study's own)")
    p.add_argument("--out", type=folder_option, metavar="DIR",
                   help="where this worker keeps its trial models (default runs/worker-NAME)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    if a.measure_only:
        return _measure_only(a)
    if not a.study:
        raise UsageError("--study is required (or --measure-only --device NAME to be a measuring target)")
    from advisor.jobs.worker import join_study  # the compressing worker needs the whole stack

    out = Path(a.out or f"runs/worker-{a.study}")
    with progress_context(a.json) as ctx:
        summary = join_study(a.storage, a.study, out, trials=a.trials, ctx=ctx)
    if a.json:
        emit_json(summary)
    else:
        print(f"worker ran {summary['ran']} trial(s); study '{a.study}' has {summary['finished']} finished trial(s)")
    return 0


def _measure_only(a: argparse.Namespace) -> int:
    """Serve measurement requests until Ctrl-C (the requests in flight stay queued)."""
    if not a.device:
        raise UsageError("--measure-only needs --device NAME (the name the workstation's --measure-on uses)")
    from advisor.measure.remote import serve
    from advisor.profiling import profile_device  # light: onnxruntime, numpy (no torch)

    def profile() -> dict:
        return profile_device(a.device, quick=True).to_dict()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        n = serve(a.storage, a.device, profile=profile, artifacts=a.artifacts, log=log)
    except KeyboardInterrupt:
        n = None
    if a.json:
        emit_json({"device": a.device, "storage": a.storage, "measured": n})
    return 0
