"""``advisor compress``, ``advisor advise`` and ``advisor demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from advisor.advice import TABLE_COLUMNS, Advice, latency_label, row_cells
from advisor.budget import Budget
from advisor.cli._common import (
    add_budget_args,
    add_model_args,
    add_profile_args,
    budget_from_args,
    emit_json,
    file_option,
    folder_option,
    int_option,
    number_option,
    parse_params,
    progress_context,
    resolve_profile,
    storage_option,
    study_option,
    threads_for,
)
from advisor.compress import validate
from advisor.errors import AdvisorError, InputError
from advisor.fileio import prepare_out_dir
from advisor.jobs import advise, compress_one, is_this_device, spec_of
from advisor.measure import MeasureSettings
from advisor.measure.quality import describe_figure
from advisor.models import parse_input_shape
from advisor.problem import open_problem
from advisor.progress import RunContext
from advisor.ranking import KnowledgeBase
from advisor.report import latency_heading
from advisor.search import EFFORT, EFFORT_SECONDS, SearchSettings, study_name_for
from advisor.strategies import Strategy
from advisor.types import DropFigure, LatencyStats, QualityFigure

if TYPE_CHECKING:  # types only: the CLI loads the measuring stack when a command runs (start-up time)
    from advisor.problem import Problem
    from advisor.profiling import DeviceProfile

DEMO_MODEL, DEMO_DATA = "builtin:digits-cnn", "builtin:digits"


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress", help="apply one strategy, measure it, write model.onnx",
        description="Apply one strategy, measure it against the original, write OUT/model.onnx.",
        epilog="example: advisor compress --model builtin:digits-cnn --strategy FIQ "
               "--param calibration_size=300 --out runs/fiq",
    )
    add_model_args(p)
    add_profile_args(p, "(default: a saved profile of this device, if any; used for timing threads)")
    p.add_argument("--kb", type=file_option, metavar="PATH",
                   help="knowledge-base SQLite file the measurement is added to")
    p.add_argument("--strategy", required=True, metavar="S", help="NQ, BLQ, FIQ, F16, ... or a chain such as KD+FIQ")
    p.add_argument("--param", action="append", metavar="K=V",
                   help="technique parameter (repeatable), e.g. FIQ.method=entropy")
    p.add_argument("--out", required=True, type=folder_option, metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the measurement record as JSON")
    p.set_defaults(run=run_compress)

    p = sub.add_parser(
        "advise", help="measure candidates under a budget; write the compressed model and the advice",
        description="The main job: measure candidate strategies on this device, pick the best under the budget, "
                    "write OUT/model.onnx, advice.json, advice.md and pareto.png.",
        epilog="example: advisor advise --model my.onnx --data val.npz --tier mid --out runs/mine",
    )
    add_model_args(p)
    add_budget_args(p)
    add_profile_args(p, "(default: profile this device now)")
    add_search_args(p)
    g = p.add_argument_group("measuring target (compress here, measure on the board)")
    g.add_argument("--measure-on", type=study_option, metavar="NAME",
                   help="measure every candidate on the device NAME running `advisor worker --measure-only` "
                        "against the same --storage (docs/target.md)")
    g.add_argument("--target-wait", type=number_option(), default=120.0, metavar="S",
                   help="how long to wait for a measuring target that went silent before stopping (default 120)")
    p.add_argument("--kb", type=file_option, metavar="PATH",
                   help="knowledge-base SQLite file (default: $ADVISOR_KB or ~/.local/share/...)")
    p.add_argument("--out", required=True, type=folder_option, metavar="DIR")
    p.add_argument("--json", action="store_true", help="print advice.json on stdout")
    p.set_defaults(run=run_advise)

    p = sub.add_parser(
        "demo", help="advise on the built-in model and data (mid tier)",
        description=f"= advisor advise --model {DEMO_MODEL} --data {DEMO_DATA} --tier mid --trials 10 "
                    "--time-budget 300: ten trials, the same ten on every run (a time budget alone would let the "
                    "machine's load decide how many run, and so the pick); 300 s only caps a very slow machine",
        epilog="example: advisor demo --out runs/demo",
    )
    p.add_argument("--out", default="runs/demo", type=folder_option, metavar="DIR")
    p.add_argument("--tier", default="mid", choices=("low", "mid", "high"))
    add_profile_args(p, "(default: profile this device now)")
    add_search_args(p, trials=10, time_budget=300.0)
    p.add_argument("--kb", type=file_option, metavar="PATH", help="knowledge-base SQLite file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_demo)


def add_search_args(p: argparse.ArgumentParser, trials: int | None = None, time_budget: float | None = None) -> None:
    g = p.add_argument_group("search")
    g.add_argument("--effort", choices=sorted(EFFORT), default="normal",
                   help="search effort: quick (8 trials, at most 4 min of search), normal (20, 7 min), "
                        "thorough (60, no time limit); --trials and --time-budget override")
    g.add_argument("--trials", type=int_option(1), default=trials, metavar="N",
                   help="stop when the study has N finished trials")
    g.add_argument("--time-budget", type=number_option(), default=time_budget, metavar="S",
                   help="stop starting trials after S seconds (default: the effort's)")
    g.add_argument("--storage", type=storage_option, metavar="URL",
                   help="Optuna storage: sqlite:///path.db (default OUT/study.db), journal:///path.log, postgresql://...")
    g.add_argument("--study", type=study_option, metavar="NAME",
                   help="study name; the same name resumes it (default: from model, data, budget)")
    g.add_argument("--strategies", type=_strategy_list, metavar="S,S,...",
                   help="search only these strategies (default: all that apply)")
    g.add_argument("--artifacts", type=folder_option, metavar="DIR",
                   help="where every trial's measured model is kept (default: beside a SQLite/journal study, "
                        "in the database for PostgreSQL)")
    g.add_argument("--keep-all", action="store_true",
                   help="keep every trial's model artifact (default: those the advice does not refer to and that "
                        "are off the Pareto front are removed)")


def search_settings(a: argparse.Namespace):
    seconds = a.time_budget if a.time_budget is not None else EFFORT_SECONDS[a.effort]
    return SearchSettings(trials=a.trials if a.trials is not None else EFFORT[a.effort], time_budget=seconds,
                          storage=a.storage, study=a.study, artifacts=a.artifacts, keep_all=a.keep_all)


def _target(a: argparse.Namespace):
    """``--measure-on NAME``: the measuring target, listening on ``--storage`` (checked within seconds)."""
    if not getattr(a, "measure_on", None):
        return None
    if not a.storage:
        raise InputError("--measure-on needs --storage URL: the storage the measuring target listens on")
    from advisor.measure.remote import Target  # only when measuring on a board

    return Target.connect(a.storage, a.measure_on, wait=a.target_wait, artifacts=getattr(a, "artifacts", None))


def target_profile(target) -> DeviceProfile | None:
    """The device profile the measuring target recorded of itself."""
    from advisor.profiling import DeviceProfile

    doc = target.profile()
    return None if doc is None else DeviceProfile.from_dict(doc)


def _open(a: argparse.Namespace, ctx: RunContext, data: str | None = None, profile: DeviceProfile | None = None,
          strategies: Sequence[str] | None = None, measure_on=None) -> Problem:
    """Load model and data and measure the original, timing with the profile's suggested threads
    and spinning (``--threads`` overrides; 1 without either). ``strategies`` (the ones the user
    restricts to) decide whether the data keeps a training share."""
    shape = parse_input_shape(a.input_shape) if getattr(a, "input_shape", None) else None
    settings = profile.measure_settings() if profile is not None else MeasureSettings()
    if getattr(a, "threads", None) is not None:
        settings = MeasureSettings(threads=threads_for(a.threads, settings.threads), spinning=settings.spinning)
    if profile is not None and (measure_on is not None or is_this_device(profile)):  # figures name their device
        settings = replace(settings, device=profile.name)
    return open_problem(a.model, data if data is not None else a.data, weights=getattr(a, "weights", None),
                        input_shape=shape, settings=settings, ctx=ctx, train_data=getattr(a, "train_data", None),
                        metric=getattr(a, "metric", None), strategies=strategies, measure_on=measure_on)


def run_compress(a: argparse.Namespace) -> int:
    params = parse_params(a.param)
    Strategy.parse(a.strategy).configs(params)  # usage errors before loading anything
    with progress_context(a.json) as ctx:
        profile = resolve_profile(a, ctx, measure=False)  # a saved profile of this device, if any
        with _open(a, ctx, profile=profile, strategies=[a.strategy]) as problem:
            validate(problem.model, Strategy.parse(a.strategy), params)  # e.g. KD.student's outputs
            out = prepare_out_dir(Path(a.out), [a.model, a.weights, a.data, a.train_data])
            rec = compress_one(problem, a.strategy, params, out, ctx, profile=profile,
                               kb=KnowledgeBase(a.kb) if a.kb else None)
    if a.json:
        emit_json(rec)
    else:
        _print_compress(rec)
    return 0


def _print_compress(rec: dict) -> None:
    b = rec["baseline"]
    metric = rec["metric"]
    ref = rec.get("baseline_latency") or b["latency"]
    t = Table(title=f"{rec['strategy']} vs original; latency {_short_source(rec['latency'])}")
    for col in ("", metric, "size KB", "gzip KB", "p50 ms", "p90 ms", "speed-up p50", "compress s"):
        t.add_column(col, justify="right")
    rows = (("original", b, ref, "1.00x"), (rec["strategy"], rec, rec["latency"], f"{rec['speedup_p50']:.2f}x"))
    for name, m, lat, up in rows:
        t.add_row(name, _quality(m, metric), f"{m['size_bytes'] / 1024:.1f}",
                  f"{m['size_compressed_bytes'] / 1024:.1f}",
                  f"{lat['p50_ms']:.3f}", f"{lat['p90_ms']:.3f}", up, f"{m['compress_seconds']:.1f}")
    c = Console()
    c.print(t)
    c.print(f"speed-up against {rec['speedup_against']}; the original's one-off timing before the run: "
            f"p50 {b['latency_ms_p50']:.3f} ms ({b['latency_source']})")
    for key, use in (("selection", "choosing"), ("reported", "reported")):
        if rec.get(key):
            c.print(f"{metric} ({use}): {describe_figure(QualityFigure.from_dict(rec[key]))}")
    for key, use in (("drop", "validation"), ("confirmation", "test")):
        if rec.get(key):
            c.print(f"{metric} paired against the original ({use}): {DropFigure.from_dict(rec[key]).describe()}")
    c.print(f"wrote {rec['model_file']}")


def _short_source(lat: dict) -> str:
    """``measured here, same run`` / ``measured here, earlier run`` / ``predicted for profile P``."""
    return latency_label(LatencyStats.from_dict(lat))


def _quality(m: dict, metric: str) -> str:
    """``96.20%`` or, with a held-out test figure, ``96.20% [92.10, 98.30]``."""
    f = m.get("reported")
    if not f:
        return f"{100 * m[metric]:.2f}%"
    return f"{100 * f['value']:.2f}% [{100 * f['lo']:.2f}, {100 * f['hi']:.2f}]"


def run_advise(a: argparse.Namespace) -> int:
    budget = budget_from_args(a)
    return _advise(a, budget, a.model, a.data, Path(a.out), a.json)


def run_demo(a: argparse.Namespace) -> int:
    for k, v in dict(model=DEMO_MODEL, data=DEMO_DATA, weights=None, input_shape=None, threads=None,
                     train_data=None, metric=None).items():
        setattr(a, k, v)
    return _advise(a, Budget.preset(a.tier), DEMO_MODEL, DEMO_DATA, Path(a.out), a.json)


def _advise(a: argparse.Namespace, budget, model: str, data: str, out: Path, as_json: bool) -> int:
    settings = search_settings(a)
    _strategies(a)  # unknown names fail before any work
    with progress_context(as_json) as ctx:
        target = _target(a)
        profile = target_profile(target) if target is not None else resolve_profile(a, ctx)
        problem = _open(a, ctx, data, profile, strategies=_strategies(a), measure_on=target)
    with progress_context(as_json) as ctx, problem:
        prepare_out_dir(out, [model, getattr(a, "weights", None), data, getattr(a, "train_data", None)])
        shape = parse_input_shape(a.input_shape) if getattr(a, "input_shape", None) else None
        spec = spec_of(problem, budget, weights=getattr(a, "weights", None), input_shape=shape)
        study = settings.study or study_name_for(spec)
        try:
            advice = advise(problem, budget, out, ctx=ctx, spec=spec, settings=_with_study(settings, study),
                            profile=profile, kb=KnowledgeBase(a.kb) if getattr(a, "kb", None) else None,
                            strategies=_strategies(a))
        except KeyboardInterrupt:
            argv = [x for x in sys.argv[1:]]
            if "--study" not in argv:
                argv += ["--study", study]
            print(f"interrupted: finished trials are kept in study '{study}'. Resume with:\n"
                  f"  advisor {' '.join(argv)}", file=sys.stderr)
            raise
    if as_json:
        emit_json(advice.to_dict())
    else:
        print_advice(advice, out)
    return advice.exit_code


def _strategy_list(text: str) -> str:
    """``--strategies``: comma-separated strategy names, each known (checked at parse time)."""
    names = [s for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must list strategies such as FIQ,F16, got {text!r}")
    for s in names:
        try:
            Strategy.parse(s)
        except AdvisorError as e:
            raise argparse.ArgumentTypeError(f"must list known strategies: {e}") from None
    return text


def _strategies(a: argparse.Namespace) -> list[str] | None:
    if not getattr(a, "strategies", None):
        return None
    return [Strategy.parse(s).name for s in a.strategies.split(",") if s.strip()]


def _with_study(settings, study: str):
    return replace(settings, study=study)


def print_advice(advice: Advice, out: Path) -> None:
    """The advice on the terminal: the table every surface shows, the comparison, the headline."""
    p = advice.problem
    con = Console()
    t = Table(title=f"candidates for {p.model.source} ({advice.budget.tier or 'custom'} budget); "
                    f"latency {latency_heading(advice)}")
    for col in TABLE_COLUMNS:
        t.add_column(col, justify="left" if col in ("strategy", "verdict") else "right")
    for row in advice.rows():
        t.add_row(*row_cells(row, p.baseline), style="bold green" if row.picked and advice.status == "confirmed"
                  else ("bold yellow" if row.picked else None))
    con.print(t)
    c = Table(title=f"original vs {advice.shown.label} vs budget")
    for col in ("", "original", advice.shown.label, "limit", "verdict"):
        c.add_column(col, justify="right")
    for r in advice.comparison():
        c.add_row(*r)
    con.print(c)
    con.print(f"{p.data.metric}: paired drop against the original, one-sided bounds at "
              f"{advice.budget.confidence:.0%}; chosen on the validation split, checked on the untouched test split. "
              + ("speed-ups: ratios of two predictions for the profile's device"
                 if not advice.shown.measurement or not advice.shown.measurement.latency.measured
                 else "speed-ups: against the original timed in the same run, with the bounds of the per-block ratios"))
    style = {"confirmed": "bold", "unconfirmed": "bold yellow", "nothing fits": "bold red"}[advice.status]
    con.print(f"[{style}]{escape(advice.headline())}[/]")
    con.print(f"wrote {out / advice.model_file}, {out / 'advice.json'}, {out / 'advice.md'} "
              f"(exit code {advice.exit_code}: {advice.status})")
