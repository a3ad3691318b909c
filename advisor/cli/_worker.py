"""``advisor worker``: another process or device joins a study and runs trials for it."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.cli._common import (
    emit_json,
    folder_option,
    int_option,
    progress_context,
    storage_option,
    study_option,
)
from advisor.jobs.worker import join_study


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
    p.add_argument("--study", required=True, type=study_option, metavar="NAME")
    p.add_argument("--trials", type=int_option(1), metavar="N",
                   help="run until the study has N finished trials (default: the study's own)")
    p.add_argument("--out", type=folder_option, metavar="DIR",
                   help="where this worker keeps its trial models (default runs/worker-NAME)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    out = Path(a.out or f"runs/worker-{a.study}")
    with progress_context(a.json) as ctx:
        summary = join_study(a.storage, a.study, out, trials=a.trials, ctx=ctx)
    if a.json:
        emit_json(summary)
    else:
        print(f"worker ran {summary['ran']} trial(s); study '{a.study}' has {summary['finished']} finished trial(s)")
    return 0
