"""``advisor profile``, ``advisor profiles list|show|compare`` and ``advisor predict``."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from advisor.cli._common import (
    emit_json,
    folder_option,
    int_option,
    progress_context,
)
from advisor.errors import InputError
from advisor.profiling import ProfileStore, check_name, compare_profiles, profile_device, save_profile
from advisor.profiling._profiler import DEFAULT_DEADLINE, QUICK_DEADLINE
from advisor.profiling._store import writable_check

_DIR_HELP = "folder of saved profiles (default: ./profiles)"
# `advisor profile` ends its profile this many seconds after its process started (start-up
# included), so that saving, printing and exiting (~0.3 s, more on a busy machine) still end within
# ten seconds: on a slow or busy machine the profile gets what is left.
COMMAND_SECONDS = 9.0
_FRESH = 30.0  # a process older than this when the profile starts was not started for it


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="measure this device in seconds and save it as a named profile",
        description="Probe the CPU (cores, ISA features), memory, disk and onnxruntime, run micro-benchmarks "
                    "(FP32/INT8/FP16 matrix and convolution throughput, memory bandwidth, overheads) at 1 "
                    "thread and at all cores, and save PROFILES_DIR/NAME.yaml.",
        epilog="example: advisor profile --name lab-pi --profiles-dir profiles",
    )
    p.add_argument("--name", type=_profile_name, metavar="NAME",
                   help="profile name (default: this host's name, sanitised)")
    p.add_argument("--profiles-dir", default="profiles", type=folder_option, metavar="DIR", help=_DIR_HELP)
    p.add_argument("--quick", action="store_true", help="a ~3 s preview with noisier figures")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(run=run_profile)

    p = sub.add_parser(
        "profiles", help="list, show or compare saved device profiles",
        description="Work with the saved profiles in PROFILES_DIR.",
        epilog="example: advisor profiles compare lab-pi build-vm",
    )
    psub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    psub.required = True
    q = psub.add_parser("list", help="list saved profiles",
                        description="List the saved profiles and their key figures.",
                        epilog="example: advisor profiles list --profiles-dir profiles")
    _common(q)
    q.set_defaults(run=run_list)
    q = psub.add_parser("show", help="show one profile", description="Show one profile: host, figures, derived facts.",
                        epilog="example: advisor profiles show build-vm --json")
    q.add_argument("name", metavar="NAME", help="a profile name in PROFILES_DIR or a path to a .yaml file")
    _common(q)
    q.set_defaults(run=run_show)
    q = psub.add_parser("compare", help="compare two profiles", description="Key figures of two profiles side by side, "
                        "with the ratio B/A.", epilog="example: advisor profiles compare lab-pi build-vm")
    q.add_argument("a", metavar="A", help="first profile (name or .yaml path)")
    q.add_argument("b", metavar="B", help="second profile (name or .yaml path)")
    _common(q)
    q.set_defaults(run=run_compare)

    p = sub.add_parser(
        "predict", help="predict a model's latency on a profiled device without running it",
        description="Predict the p50 latency (batch 1) of an ONNX model on the device a profile describes, "
                    "from the kernels onnxruntime will run and the profile's micro-benchmarks; also the "
                    "roofline floor (FLOPs / measured peak).",
        epilog="example: advisor predict --model model.onnx --profile build-vm --threads 1",
    )
    p.add_argument("--model", required=True, metavar="M", help="an .onnx file")
    p.add_argument("--profile", required=True, metavar="P", help="a profile name in PROFILES_DIR or a .yaml path")
    p.add_argument("--threads", type=int_option(1), metavar="N",
                   help="intra-op threads (default: the profile's suggestion)")
    _common(p)
    p.set_defaults(run=run_predict)


def _profile_name(text: str) -> str:
    """``--name``: checked at parse time (``check_name``'s one-line error names the profile name)."""
    return check_name(text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profiles-dir", default="profiles", type=folder_option, metavar="DIR", help=_DIR_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")


def run_profile(a: argparse.Namespace) -> int:
    name = check_name(a.name) if a.name else None
    directory = Path(a.profiles_dir)
    writable_check(directory)
    with progress_context(a.json) as ctx:
        profile = profile_device(name, quick=a.quick, disk_path=directory, ctx=ctx, deadline=_deadline(a.quick))
    path = save_profile(profile, directory)
    if a.json:
        emit_json({**profile.to_dict(), "path": str(path)})
    else:
        _print_profile(profile)
        print(f"saved {path} ({profile.run.wall_seconds:.1f} s)")
    return 0


def _deadline(quick: bool) -> float:
    """The profile's deadline (a ``perf_counter`` value): its own default, or sooner when the
    start-up already took part of the command's ten seconds. A process that started long before
    (``main()`` called from a program that has been running) gets the default."""
    since_start = time.time() - psutil.Process().create_time()  # 10 ms resolution
    left = COMMAND_SECONDS - since_start if since_start < _FRESH else math.inf
    return time.perf_counter() + min(QUICK_DEADLINE if quick else DEFAULT_DEADLINE, left)


def run_list(a: argparse.Namespace) -> int:
    entries = ProfileStore(a.profiles_dir).entries()
    if a.json:
        emit_json({"profiles_dir": a.profiles_dir, "profiles": [
            {"name": e.name, "path": str(e.path), "error": e.error,
             **({"key_figures": e.profile.key_figures()} if e.profile else {})} for e in entries]})
        return 0
    if not entries:
        print(f"no profiles in {a.profiles_dir} (make one with: advisor profile --profiles-dir {a.profiles_dir})")
        return 0

    t = Table(title=f"profiles in {a.profiles_dir}")
    for col in ("name", "cpu", "cores", "FP32 conv GFLOP/s", "INT8 speed-up", "threads", "profiled"):
        t.add_column(col)
    for e in entries:
        if e.profile is None:
            t.add_row(e.name, f"[red]invalid: {e.error}[/red]", "", "", "", "", "")
            continue
        k = e.profile.key_figures()
        t.add_row(e.name, k["cpu"], str(k["cores_logical"]), f"{k['conv_fp32_gflops']:.1f}",
                  f"{k['int8_speedup']:.2f}x", str(k["suggested_threads"]), k["profiled"])
    Console().print(t)
    return 0


def run_show(a: argparse.Namespace) -> int:
    profile = ProfileStore(a.profiles_dir).resolve(a.name)
    if a.json:
        emit_json(profile.to_dict())
    else:
        _print_profile(profile)
    return 0


def run_compare(a: argparse.Namespace) -> int:
    store = ProfileStore(a.profiles_dir)
    pa, pb = store.resolve(a.a), store.resolve(a.b)
    rows = [(d.figure, _joined(d.a), _joined(d.b), d.ratio) for d in compare_profiles(pa, pb, detail="all")]
    if a.json:
        emit_json({"a": pa.name, "b": pb.name, "figures": [
            {"figure": n, "a": va, "b": vb, "ratio_b_over_a": r} for n, va, vb, r in rows]})
        return 0

    t = Table(title=f"{pa.name} (A) vs {pb.name} (B)")
    for col in ("figure", "A", "B", "B/A"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    for n, va, vb, r in rows:
        t.add_row(n, _fmt(va), _fmt(vb), "" if r is None else f"{r:.2f}")
    Console().print(t)
    return 0


def run_predict(a: argparse.Namespace) -> int:
    from advisor.profiling import predict_latency  # start-up: `advisor profile` runs without the predictor

    model = Path(a.model)
    if not model.is_file():
        raise InputError(f"model not found: {a.model}")
    profile = ProfileStore(a.profiles_dir).resolve(a.profile)
    threads = a.threads or profile.derived.suggested_threads
    pred = predict_latency(model, profile, threads=threads)
    if a.json:
        emit_json({"model": str(model), **pred.to_dict()})
        return 0
    ratio = pred.p50_ms / pred.roofline_floor_ms if pred.roofline_floor_ms > 0 else float("nan")
    lo, hi = pred.interval_ms
    print(f"{model.name} on '{profile.name}' ({profile.host.cpu}), {threads} thread(s): "
          f"predicted p50 {pred.p50_ms:.3f} ms (95% interval {lo:.3f}-{hi:.3f} ms); "
          f"roofline floor {pred.roofline_floor_ms:.4f} ms "
          f"({ratio:.1f}x above it); {pred.flops / 1e6:.1f} MFLOP in {pred.kernels} kernels")
    parts = ", ".join(f"{k} {v:.3f}" for k, v in pred.breakdown_ms.items() if v >= 0.0005)
    print(f"  where the time goes (ms): {parts}")
    return 0


def _joined(v: Any) -> Any:
    """A list (the ISA features) as one space-separated string."""
    return " ".join(v) if isinstance(v, (list, tuple)) else v


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def _print_profile(profile) -> None:
    h, r, f, d = profile.host, profile.run, profile.figures, profile.derived
    c = Console()
    c.print(f"[bold]{profile.name}[/bold]: {h.cpu} ({h.arch}), {h.cores_logical} logical / {h.cores_physical} "
            f"physical cores, {h.memory_total_bytes / 2**30:.1f} GiB RAM ({h.memory_available_bytes / 2**30:.1f} "
            f"available), {h.disk_free_bytes / 2**30:.1f} GiB free disk, {h.os}")
    c.print(f"ISA: {' '.join(h.isa) or '-'}; onnxruntime {h.onnxruntime} ({', '.join(h.providers)}); "
            f"energy sensor: {h.energy_sensor}")
    timing = "" if r.rounds is None else (f"; {r.rounds} rounds, {r.disturbed_blocks} timed blocks disturbed by "
                                          f"other work, {r.retimed_blocks} re-timed")
    t = Table(title=f"measured in {r.wall_seconds:.1f} s{' (quick)' if r.quick else ''}; background load "
                    f"{r.background_load_cores:.2f} core(s), steal {r.steal_percent:.1f}%{timing}")
    t.add_column("figure")
    t.add_column("1 thread", justify="right")
    t.add_column(f"{r.threads_all} threads", justify="right")
    t.add_column("scaling", justify="right")
    rows = [
        ("FP32 conv 3x3 32ch 112x112 (GFLOP/s)", "conv.fp32_gflops", "conv"),
        ("INT8 conv, static QDQ (GOP/s)", "conv.int8_gops", "conv_int8"),
        ("INT8 conv, dynamic (GOP/s)", "conv.int8_dynamic_gops", None),
        ("FP16 conv (GFLOP/s)", "conv.fp16_gflops", None),
        ("FP32 pointwise 1x1 96ch 56x56 (GFLOP/s)", "pointwise.fp32_gflops", "pointwise"),
        ("INT8 pointwise (GOP/s)", "pointwise.int8_gops", "pointwise_int8"),
        ("FP16 pointwise (GFLOP/s)", "pointwise.fp16_gflops", None),
        ("FP32 depthwise 3x3 144ch 56x56 (GFLOP/s)", "depthwise.fp32_gflops", "depthwise"),
        ("INT8 depthwise (GOP/s)", "depthwise.int8_gops", "depthwise_int8"),
        ("FP16 depthwise (GFLOP/s)", "depthwise.fp16_gflops", None),
        ("FP32 GEMM 128x384x384 (GFLOP/s)", "gemm.fp32_gflops", "gemm"),
        ("INT8 GEMM (GOP/s)", "gemm.int8_gops", "gemm_int8"),
        ("FP16 GEMM (GFLOP/s)", "gemm.fp16_gflops", None),
        ("Softmax 12x128x128 (Gelem/s)", "transformer.softmax_gelems", "softmax"),
        ("Softmax, 1/4 masked (Gelem/s)", "transformer.softmax_masked_gelems", None),
        ("LayerNorm 128x384 (Gelem/s)", "transformer.layernorm_gelems", "layernorm"),
        ("GELU 128x1536 (Gelem/s)", "transformer.gelu_gelems", "gelu"),
        ("memory bandwidth (GB/s)", "memory.bandwidth_gbs", None),
        ("cache bandwidth (GB/s)", "memory.cache_gbs", None),
        ("inference call (us)", "overhead.run_us", None),
        ("per node (us)", "overhead.node_us", None),
    ]

    def cell(name: str) -> str:
        group, field = name.split(".")
        val, spread = getattr(getattr(f, group), field), profile.figure_spread(name)
        return _fmt(val) + (f" ±{100 * spread:.0f}%" if spread > 0 else "")

    for label, name, scale in rows:
        t.add_row(label, cell(f"{name}_1t"), cell(f"{name}_all"),
                  "" if scale is None else f"{getattr(f.scaling, scale):.2f}x")
    c.print(t)
    c.print(f"derived: INT8 {d.int8_speedup:.2f}x FP32 for convolutions, {d.int8_gemm_speedup:.2f}x for "
            f"GEMMs (dynamic INT8 {d.int8_dynamic_speedup:.2f}x), FP16 "
            f"{d.fp16_speedup:.2f}x; suggested {d.suggested_threads} thread(s), spinning "
            f"{'on' if d.suggested_spinning else 'off'}")
