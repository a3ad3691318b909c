"""Shared pieces of the command line: argument groups, budget parsing, progress, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from advisor.budget import LIMITS, TIERS, Budget
from advisor.errors import BudgetError, InputError
from advisor.measure.scores import METRICS
from advisor.profiling import DEFAULT_PROFILES_DIR, ProfileStore, profile_device
from advisor.progress import ProgressEvent, RunContext

__all__ = [
    "UsageError",
    "Parser",
    "add_model_args",
    "add_budget_args",
    "budget_from_args",
    "parse_params",
    "progress_context",
    "emit_json",
    "stderr",
    "int_option",
    "number_option",
    "existing_file",
    "folder_option",
    "file_option",
    "storage_option",
    "study_option",
    "source_option",
    "shape_option",
    "threads_for",
    "threads_option",
    "logical_cores",
]


class UsageError(InputError):
    """A command line the parser cannot accept."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str):  # type: ignore[override]
        # "argument --threads: must be >= 1 ..." -> "--threads must be >= 1 ..." (one line, names the option)
        message = re.sub(r"^argument ([^:]+): (must |is |not found)", r"\1 \2", message)
        raise UsageError(message.removeprefix("argument "))


def stderr():
    return Console(stderr=True, highlight=False)


def add_model_args(p: argparse.ArgumentParser, data_required: bool = False) -> None:
    g = p.add_argument_group("model and data")
    g.add_argument("--model", required=True, type=source_option, metavar="M",
                   help="builtin:NAME, a .onnx file, or a PyTorch factory (with --weights): module:factory "
                        "(found in the current folder first, then on the import path) or path/to/file.py:factory")
    g.add_argument("--weights", type=existing_file, metavar="FILE",
                   help="state_dict for a PyTorch factory (loaded weights_only)")
    g.add_argument("--input-shape", type=shape_option, metavar="CxHxW",
                   help="one sample's shape for a PyTorch factory, e.g. 1x32x32")
    g.add_argument("--data", required=data_required, type=source_option, metavar="D",
                   help="builtin:digits, a .npz of arrays named by input (optional labels/y), or an image folder")
    g.add_argument("--train-data", type=source_option, metavar="D",
                   help="training data apart from --data (same formats); --data then only calibrates and evaluates")
    g.add_argument("--metric", choices=METRICS, default=None,
                   help="how quality is scored (default: chosen per output, see docs/measurement.md); "
                        "accuracy needs labels")
    g.add_argument("--threads", type=threads_option, default=None, metavar="N",
                   help="intra-op threads for timing, 0 for all cores, at most this device's logical cores "
                        "(default: the profile's suggestion, else 1)")


_ASKED = [lim for lim in LIMITS.values() if lim.flag]  # the limits with a flag, in Budget's order
_METAVAR = {"points": "PTS"}


def add_budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget (a tier preset and/or explicit limits)")
    g.add_argument("--tier", choices=sorted(TIERS), help="Lee et al. 2022 service tier preset")
    for lim in _ASKED:
        g.add_argument(f"--{lim.flag}", type=number_option(lim.lo, lim.hi) if lim.lo_ok else number_option(),
                       metavar=_METAVAR.get(lim.unit, lim.unit.upper()), help=lim.help)
    g.add_argument("--objective", choices=("latency", "size", "accuracy"),
                   help="what to minimise within the limits (tier default, else latency)")
    g.add_argument("--confidence", type=number_option(0.5, 0.999), metavar="C",
                   help="how sure a 'fits' of the accuracy limit must be, one-sided (default 0.95)")
    g.add_argument("--budget", type=existing_file, metavar="FILE.yaml",
                   help="budget fields from a YAML file (flags override it)")


def budget_from_args(a: argparse.Namespace, default_tier: str | None = None) -> Budget:
    explicit: dict[str, Any] = {lim.field: getattr(a, lim.flag.replace("-", "_")) for lim in _ASKED}
    if a.objective:
        explicit["objective"] = a.objective
    if getattr(a, "confidence", None) is not None:
        explicit["confidence"] = a.confidence
    doc: dict[str, Any] = {}
    if getattr(a, "budget", None):
        doc = load_yaml_mapping(Path(a.budget), "budget")
        if a.tier and doc.get("tier") not in (None, a.tier):
            raise BudgetError(
                f"contradictory budget: {a.budget} says tier {doc.get('tier')!r} but --tier is {a.tier!r}")
        b = Budget.from_dict(doc)
        return Budget.from_dict({**b.to_dict(), **{k: v for k, v in explicit.items() if v is not None},
                                 **({"tier": a.tier} if a.tier else {})})
    tier = a.tier or (default_tier if all(v is None for k, v in explicit.items() if k != "confidence") else None)
    if not tier and all(v is None for k, v in explicit.items() if k not in ("objective", "confidence")):
        raise BudgetError("give a budget: --tier low|mid|high or at least one --max-... limit")
    return Budget.from_answers({**explicit, "tier": tier})


def load_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; ``yaml.safe_load`` only (no Python tags)."""
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{what} file {path} cannot be read: {e}") from None
    if len(text) > 1_000_000:
        raise InputError(f"{what} file {path} is larger than 1 MB")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid YAML"
        raise InputError(f"{what} file {path} is not valid YAML: {first}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{what} file {path} must hold a mapping of fields, got {type(doc).__name__}")
    return doc


def parse_params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param must look like name=value (or STEP.name=value), got '{item}'")
        out[key.strip()] = value.strip()
    return out


@contextmanager
def progress_context(quiet: bool = False):
    """A :class:`RunContext` whose progress draws one live line on stderr (or nothing)."""
    if quiet or not sys.stderr.isatty():
        last = {"t": 0.0, "stage": ""}

        def plain(e: ProgressEvent) -> None:
            now = time.monotonic()
            if quiet or (e.stage == last["stage"] and now - last["t"] < 2.0 and e.fraction < 1.0):
                return
            last.update(t=now, stage=e.stage)
            print(f"[{e.stage}] {e.message}", file=sys.stderr, flush=True)

        yield RunContext(progress=plain)
        return

    with Progress(TextColumn("[bold]{task.fields[stage]}"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=stderr(), transient=True) as bar:
        task = bar.add_task("", total=1.0, stage="")

        def live(e: ProgressEvent) -> None:
            bar.update(task, completed=e.fraction, description=e.message[:60], stage=e.stage)

        yield RunContext(progress=live)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def add_profile_args(p: argparse.ArgumentParser, help_extra: str = "") -> None:
    g = p.add_argument_group("device")
    g.add_argument("--profile", metavar="P",
                   help="target device: a saved profile name or a profile YAML file " + help_extra)
    g.add_argument("--profiles-dir", type=folder_option, metavar="DIR", default=None,
                   help="where saved profiles live (default: ./profiles)")


def resolve_profile(a: argparse.Namespace, ctx: RunContext, *, measure: bool = True):
    """The device profile to use.

    ``--profile`` names one (in the profiles folder) or gives a YAML path. Without it: the newest
    saved profile that describes this machine (same CPU model and core count; the project ships
    one for its build machine), else -- when ``measure`` -- this device is profiled now (~7 s).
    """
    value = getattr(a, "profile", None)
    if value:
        return ProfileStore(getattr(a, "profiles_dir", None) or DEFAULT_PROFILES_DIR).resolve(value)
    from advisor.jobs import saved_profile_of_this_device  # start-up: `advisor profile` never loads the jobs

    saved = saved_profile_of_this_device(getattr(a, "profiles_dir", None))
    if saved is not None:
        return saved
    if not measure:
        return None
    ctx.report("profile", 0.0, "profiling this device (no saved profile of it; --profile NAME to choose one)")
    return profile_device(ctx=ctx)



# Argument types: each checks one value at parse time and says what it expected and what came, so
# a bad value is one ``error: --OPTION must ...`` line before any work (Parser.error words it).


def int_option(minimum: int, *, zero: str | None = None):
    """An integer >= ``minimum``; with ``zero``, 0 is also accepted and means ``zero``."""

    def integer(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if v < minimum and not (zero and v == 0):
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{f' (or 0 for {zero})' if zero else ''}, got {v}")
        return v

    return integer


def number_option(minimum: float | None = None, maximum: float | None = None):
    """A finite number: > 0 by default, else within [``minimum``, ``maximum``]."""

    def number(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if minimum is None and v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        if minimum is not None and not minimum <= v <= (math.inf if maximum is None else maximum):
            raise argparse.ArgumentTypeError(f"must be in [{minimum:g}, {maximum:g}], got {text}")
        return v

    return number


def existing_file(text: str) -> str:
    """A path to a file that exists."""
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"must be an existing file, got {text!r} ({_what(Path(text))})")
    return text


def shape_option(text: str) -> str:
    """``--input-shape``: positive integers like ``1x32x32`` (the text is kept; parsed again later)."""
    from advisor.models import parse_input_shape  # start-up: `advisor profile` never loads torch

    parse_input_shape(text)  # InputError naming --input-shape
    return text


def source_option(text: str) -> str:
    """A model or data source: ``builtin:NAME``, ``module:factory``, ``path/to/file.py:factory`` or an
    existing path (a factory is resolved when the model loads, with an error naming what was tried)."""
    from advisor.models import is_factory_spec  # start-up: `advisor profile` and a measuring target never load torch

    if text.startswith("builtin:") or is_factory_spec(text):
        return text
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"not found: {text!r} (expected builtin:NAME, module:factory, "
                                         "path/to/file.py:factory or an existing path)")
    return text


def folder_option(text: str) -> str:
    """A folder that exists or can be created (not a file, not under a file)."""
    _creatable(Path(text), folder=True)
    return text


def file_option(text: str) -> str:
    """A file that exists or can be created (not a folder, not under a file)."""
    _creatable(Path(text), folder=False)
    return text


def storage_option(text: str) -> str:
    """An Optuna storage URL: ``sqlite:///...``, ``journal:///...`` or another SQLAlchemy URL."""
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+]*", scheme) or not rest:
        raise argparse.ArgumentTypeError(f"must be a URL such as sqlite:///runs/study.db, got {text!r}")
    return text


def study_option(text: str) -> str:
    """A study name (1-100 letters, digits, '.', '_' or '-')."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", text):
        raise argparse.ArgumentTypeError(f"must be 1-100 characters of letters, digits, '.', '_' or '-', got {text!r}")
    return text


def logical_cores() -> int:
    """This device's logical cores (the most threads a timing can use)."""
    return max(1, psutil.cpu_count(logical=True) or os.cpu_count() or 1)


def threads_option(text: str) -> int:
    """``--threads``: 0 (every core) up to this device's logical cores; more would only wait for a core."""
    v = int_option(1, zero="all cores")(text)
    cores = logical_cores()
    if v > cores:
        raise argparse.ArgumentTypeError(f"must be at most {cores} (this device has {cores} logical cores; 0 = all "
                                         f"of them), got {v}")
    return v


def threads_for(value: int | None, fallback: int) -> int:
    """``--threads``: ``None`` -> ``fallback``; 0 -> every logical core here; else the value."""
    if value is None:
        return fallback
    return value if value > 0 else logical_cores()


def _creatable(p: Path, *, folder: bool) -> None:
    if p.exists() and p.is_dir() != folder:
        raise argparse.ArgumentTypeError(f"must be a {'folder' if folder else 'file'}, got {str(p)!r} ({_what(p)})")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"must be a path that can be created, got {str(p)!r} "
                                                 f"({parent} is a file)")
            return


def _what(p: Path) -> str:
    return "a folder" if p.is_dir() else "a file" if p.exists() else "not found"
