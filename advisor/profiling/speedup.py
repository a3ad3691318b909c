"""A candidate's speed-up over the original on *this* device, from what is already measured.

On the device at hand the advisor always times the original, so what decides between
candidates is each one's speed-up over it. It is predicted from two measured things:

1. **The original's own time shares** (:func:`measure_node_times`): onnxruntime's per-node
   profiler runs the original a few dozen times (well under a second for a real CNN); each node's
   median time is mapped to the predictor's kernel list (:func:`~advisor.profiling.predict.kernels_of`)
   by name (the full optimisation level renames a blocked-layout convolution ``<output>_nchwc``),
   less the profiler's own per-node cost, measured alongside on a chain of trivial nodes.
2. **The profile's per-operator ratios**: the same cost model that predicts absolute latency
   (:class:`~advisor.profiling.predict.CostModel`) prices every kernel of the original and of the
   candidate. A candidate kernel with a counterpart in the original (same class, same place in
   the graph: the INT8 or FP16 version of a convolution, a convolution with fewer channels) costs
   the counterpart's *measured* time x predicted(candidate kernel) / predicted(counterpart);
   a kernel without one (the quantize / de-quantize nodes INT8 adds, a layout reorder FP16 adds,
   a student's layers) costs its predicted time x the measured / predicted factor of its class
   in the original (shrunk towards the whole model's factor when the class holds little time).

So the model's measured time says *where* the time goes, and the profile says how each operator
changes with precision and shape: the absolute predictor's systematic errors on this model (a
memory-bound early layer, a 5x5 depthwise layer) cancel in the ratio. The absolute figure is the
measured original x the predicted ratio.

Example:
    >>> times = measure_node_times("model.onnx", feed, threads=1)            # doctest: +SKIP
    >>> predict_speedup("model-int8.onnx", times, profile).speedup           # doctest: +SKIP
    1.93
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from advisor.profiling import _graphs as g
from advisor.profiling._kernels import Kernel
from advisor.profiling._timing import node_medians
from advisor.profiling.predict import kernel_costs, kernels_of
from advisor.runtime import make_session

__all__ = ["NodeTimes", "SpeedupPrediction", "measure_node_times", "predict_speedup", "PAIRED_KINDS"]

#: Kernel classes whose kernels pair with the original's by place in the graph when both hold as
#: many (a precision or shape change keeps the layers; a new architecture does not).
PAIRED_KINDS = ("conv", "dwconv", "gemm", "gemv", "norm", "other", "shape")
# A class's measured / predicted factor is shrunk towards the whole model's with a prior worth
# this share of the model's predicted time (a class with a few microseconds says little).
_PRIOR_SHARE = 0.02
_TRIVIAL_NODES = 100
_TOKEN = re.compile(r"_token_\d+$")


@dataclass(frozen=True)
class NodeTimes:
    """The original model's measured time per kernel on this device, at one thread setting.

    Attributes:
        model: the model file profiled.
        threads: intra-op threads.
        kernel_us: median microseconds per run of each kernel (the predictor's kernel names),
            the profiler's own per-node cost removed.
        unmatched_us: traced time of nodes no kernel accounts for (kept as it is in a candidate).
        trace_overhead_us: the profiler's own cost per node (measured, removed from each node).
        runs: profiled runs (the first few left out as warm-up).
        input_shapes: the shape each input was fed at (batch 1): the predictions cost both
            models at these shapes (a dynamic sequence length at the one measured).
    """

    model: str
    threads: int
    kernel_us: dict[str, float] = field(default_factory=dict)
    unmatched_us: float = 0.0
    trace_overhead_us: float = 0.0
    runs: int = 0
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def total_us(self) -> float:
        """Measured kernel time per run (us)."""
        return float(sum(self.kernel_us.values()) + self.unmatched_us)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "threads": self.threads, "kernel_us": {k: round(v, 3) for k, v in
                                                                            self.kernel_us.items()},
                "unmatched_us": round(self.unmatched_us, 3), "trace_overhead_us": round(self.trace_overhead_us, 3),
                "runs": self.runs, "input_shapes": {k: list(v) for k, v in self.input_shapes.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeTimes:
        return cls(str(d["model"]), int(d["threads"]), {str(k): float(v) for k, v in d["kernel_us"].items()},
                   float(d.get("unmatched_us", 0.0)), float(d.get("trace_overhead_us", 0.0)), int(d.get("runs", 0)),
                   {str(k): tuple(int(x) for x in v) for k, v in (d.get("input_shapes") or {}).items()})


def _bound(session: ort.InferenceSession, feed: dict[str, np.ndarray]) -> ort.IOBinding:
    io = session.io_binding()
    for i in session.get_inputs():
        io.bind_ortvalue_input(i.name, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(feed[i.name])))
    for o in session.get_outputs():
        io.bind_output(o.name, "cpu")
    return io


def _trace(path: Path | str, feed: dict[str, np.ndarray], threads: int, runs: int, warmup: int,
           spinning: bool) -> dict[str, tuple[str, float]]:
    fd, prefix = tempfile.mkstemp(prefix="advisor-nodes-")
    os.close(fd)
    os.unlink(prefix)
    s = make_session(path, threads, spinning=spinning, profile_prefix=prefix)
    io = _bound(s, feed)
    for _ in range(runs):
        s.run_with_iobinding(io)
    return node_medians(s, warmup=warmup)


def _trace_overhead_us(threads: int, spinning: bool) -> float:
    """What onnxruntime's profiler adds to each node's recorded time: a chain of trivial nodes
    timed with the profiler (per node, traced) and without it (per node, wall)."""
    chain, base = g.node_chain(_TRIVIAL_NODES), g.trivial()
    with tempfile.TemporaryDirectory(prefix="advisor-trace-") as d:
        paths = []
        for name, bg in (("chain", chain), ("base", base)):
            p = Path(d) / f"{name}.onnx"
            onnx.save(bg.model, str(p))
            paths.append(p)
        walls = []
        for p, bg in zip(paths, (chain, base), strict=True):
            s = make_session(p, threads, spinning=spinning)
            io = _bound(s, bg.feed)
            t = []
            for _ in range(60):
                t0 = _now()
                s.run_with_iobinding(io)
                t.append(_now() - t0)
            walls.append(float(np.median(t[10:])))
        true_node = max(0.0, (walls[0] - walls[1]) / _TRIVIAL_NODES)
        traced = _trace(paths[0], chain.feed, threads, 30, 5, spinning)
    per_node = float(np.median([us for _, us in traced.values()])) if traced else 0.0
    return max(0.0, per_node - true_node)


def _now() -> float:
    return time.perf_counter_ns() / 1000.0


def measure_node_times(model_path: Path | str, feed: dict[str, np.ndarray], threads: int = 1, *, runs: int = 25,
                       warmup: int = 5, spinning: bool = False) -> NodeTimes:
    """Time each node of the model at ``model_path`` with onnxruntime's per-node profiler (``runs``
    runs on ``feed``, a batch of 1) and map the medians onto the predictor's kernels.

    Raises:
        InputError: the model does not load in onnxruntime.
    """
    shapes = {k: tuple(int(x) for x in np.shape(v)) for k, v in feed.items()}
    kernels = kernels_of(model_path, shapes)
    traced = _trace(model_path, feed, threads, runs + warmup, warmup, spinning)
    overhead = _trace_overhead_us(threads, spinning)
    by_name = {k.name: k for k in kernels if not k.fused}
    by_output = {k.output: k for k in kernels if not k.fused and k.output}
    reorders: dict[str, list[Kernel]] = defaultdict(list)
    for k in kernels:
        if k.op_type in ("ReorderInput", "ReorderOutput"):
            reorders[k.op_type].append(k)
    out: dict[str, float] = {}
    unmatched = 0.0
    for name, (op, us) in traced.items():
        us = max(0.1 * us, us - overhead)
        plain = _TOKEN.sub("", name)  # the full level's renamed copy of a node: <name>_token_<n>
        k = (by_name.get(name) or by_name.get(plain) or by_output.get(name.removesuffix("_nchwc"))
             or by_output.get(name))
        if k is None and op in reorders and reorders[op]:
            k = reorders[op].pop(0)
        if k is None or k.name in out:
            unmatched += us
        else:
            out[k.name] = us
    return NodeTimes(str(model_path), int(threads), out, unmatched, overhead, runs, shapes)


@dataclass(frozen=True)
class SpeedupPrediction:
    """A candidate's predicted same-run latency ratio to the original on this device.

    Attributes:
        ratio: predicted candidate p50 / original p50 (timed in the same run).
        original_us: the original's measured kernel time plus the harness's call (us).
        candidate_us: the candidate's predicted kernel time plus the call (us).
        paired: candidate kernels costed from a measured counterpart in the original.
        scaled: candidate kernels costed by their class's measured / predicted factor.
        measured_nodes: the original's kernels with a measured time.
        changed_share: share of the original's measured time in kernels the candidate changes
            (precision, shape) or drops.
    """

    ratio: float
    original_us: float
    candidate_us: float
    paired: int
    scaled: int
    measured_nodes: int
    changed_share: float

    @property
    def speedup(self) -> float:
        return 1.0 / self.ratio if self.ratio > 0 else float("inf")

    @property
    def basis(self) -> str:
        """One line on what the prediction rests on."""
        return (f"{self.measured_nodes} measured kernels of the original x the profile's per-operator ratios "
                f"({self.paired} paired, {self.scaled} scaled by class)")

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": round(self.ratio, 5), "speedup": round(self.speedup, 4),
                "original_us": round(self.original_us, 2), "candidate_us": round(self.candidate_us, 2),
                "paired": self.paired, "scaled": self.scaled, "measured_nodes": self.measured_nodes,
                "changed_share": round(self.changed_share, 4), "basis": self.basis}


def predict_speedup(candidate: Path | str, node_times: NodeTimes, profile, original: Path | str | None = None,
                    ) -> SpeedupPrediction:
    """Predict ``candidate``'s p50 over the original's (timed in the same run) on the device where
    ``node_times`` were measured, from those times and ``profile``'s cost model (see the module).

    Args:
        candidate: the compressed model's ONNX file.
        node_times: the original's per-kernel times (:func:`measure_node_times`), at the thread
            count the ratio is for.
        profile: this device's profile (its per-operator cost ratios).
        original: the original's file (default: ``node_times.model``).
    """
    threads = node_times.threads
    ko = kernels_of(original or node_times.model, node_times.input_shapes)
    kc = kernels_of(candidate, node_times.input_shapes)
    po, call = kernel_costs(ko, profile, threads)
    pc, _ = kernel_costs(kc, profile, threads)
    live_o = [i for i, k in enumerate(ko) if not k.fused]
    live_c = [i for i, k in enumerate(kc) if not k.fused]
    pred_total = float(sum(po[i] for i in live_o)) or 1.0
    meas = {i: node_times.kernel_us[ko[i].name] for i in live_o if ko[i].name in node_times.kernel_us}
    m_known = sum(meas.values())
    p_known = sum(po[i] for i in meas) or 1.0
    k_all = m_known / p_known if meas else 1.0
    factor: dict[str, float] = {}
    for kind in PAIRED_KINDS:
        idx = [i for i in live_o if ko[i].kind == kind]
        m = sum(meas.get(i, k_all * po[i]) for i in idx)
        p = sum(po[i] for i in idx)
        prior = _PRIOR_SHARE * pred_total
        factor[kind] = (m + prior * k_all) / (p + prior)
    measured_o = {i: meas.get(i, factor[ko[i].kind] * po[i]) for i in live_o}
    t_cand, paired, scaled, changed = 0.0, 0, 0, 0.0
    used = set()
    for kind in PAIRED_KINDS:
        oi = [i for i in live_o if ko[i].kind == kind]
        ci = [j for j in live_c if kc[j].kind == kind]
        if oi and len(oi) == len(ci):
            for i, j in zip(oi, ci, strict=True):
                ratio = pc[j] / po[i] if po[i] > 0 else 1.0
                t_cand += measured_o[i] * ratio
                paired += 1
                used.add(i)
                if abs(ratio - 1.0) > 1e-6:
                    changed += measured_o[i]
        else:
            t_cand += factor[kind] * float(sum(pc[j] for j in ci))
            scaled += len(ci)
            changed += sum(measured_o[i] for i in oi)
    orig = sum(measured_o.values()) + node_times.unmatched_us + call
    cand = t_cand + node_times.unmatched_us + call
    return SpeedupPrediction(cand / orig, orig, cand, paired, scaled, len(meas),
                             changed / max(1e-9, sum(measured_o.values())))
