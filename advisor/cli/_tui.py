"""``advisor tui``: the interactive questionnaire (Textual). Textual is imported only when it runs,
so the rest of the command line never loads it."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.cli._common import folder_option, source_option, storage_option
from advisor.fileio import prepare_out_dir


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tui",
        help="the interactive advisor: profile, questionnaire, ranking, live search, advice",
        description="Open the terminal UI: profile this device, describe the model, data and budget, see the "
        "ranking, watch the search measure candidates, and read the advice. F1 lists the keys.",
        epilog="example: advisor tui --out runs/tui --profiles-dir profiles",
    )
    p.add_argument(
        "--out",
        default="runs/tui",
        type=folder_option,
        metavar="DIR",
        help="where model.onnx, advice.json, advice.md and the study go (default runs/tui)",
    )
    p.add_argument(
        "--profiles-dir",
        default="profiles",
        type=folder_option,
        metavar="DIR",
        help="where device profiles are saved and listed (default profiles)",
    )
    p.add_argument(
        "--profile", metavar="NAME", help="start with this saved profile instead of measuring"
    )
    p.add_argument(
        "--model",
        default="builtin:digits-cnn",
        type=source_option,
        metavar="M",
        help="model to pre-fill (default built-in)",
    )
    p.add_argument(
        "--data", default="builtin:digits", type=source_option, metavar="D", help="data to pre-fill (default built-in)"
    )
    p.add_argument("--storage", type=storage_option, metavar="URL", help="Optuna storage URL (default OUT/study.db)")
    p.add_argument(
        "--quick-profile",
        action="store_true",
        help="profile the device in the profiler's quick mode",
    )
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    # Textual loads only for `advisor tui`: the other commands (and the core) never import it.
    from advisor.tui import AdvisorApp, TuiConfig
    from advisor.tui import device as tui_device

    profiles = Path(a.profiles_dir)
    profile = tui_device.load(a.profile, profiles) if a.profile else None  # a bad name: nothing written yet
    out = prepare_out_dir(Path(a.out))
    config = TuiConfig(
        out=out,
        profiles_dir=profiles,
        model=a.model,
        data=a.data,
        storage=a.storage,
        profile=profile,
        quick_profile=a.quick_profile,
    )
    AdvisorApp(config).run()
    return 0
