"""MPQ: mixed precision -- static INT8 with the most quantization-sensitive layers kept in float.

Source: onnxruntime ``quantization.qdq_loss_debug`` (per-tensor signal-to-quantization-noise
ratio of a QDQ model's activations and weights); Lee et al. 2022 (FIQ, the all-INT8 model this
starts from). What is measured, on which samples:

1. The model is calibrated and quantized once (static INT8, QDQ) on the calibration split.
2. Sensitivity: ``qdq_loss_debug`` runs the QDQ model on a few calibration samples and gives each
   quantized activation and weight its SQNR (dB); a layer's sensitivity is the lowest SQNR among
   the tensors it reads (the noise it sees).
3. Greedy: the most sensitive layers are, one at a time, kept in float and the model quantized
   again; each is kept only if it raises fidelity to the original (top-1 agreement for class
   outputs, cosine otherwise) on the calibration samples, until ``min_fidelity`` holds or
   ``max_float`` layers are kept. The validation and test splits are never looked at.
4. The all-INT8 model and every kept step are timed interleaved in one run, so the notes say
   what each float layer buys in fidelity and costs in latency.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_weight_error,
    create_activation_matching,
    create_weight_matching,
    modify_model_output_intermediate_tensors,
)
from onnxruntime.quantization.qdq_loss_debug import (
    compute_signal_to_quantization_noice_ratio as sqnr_of,
)

from advisor.data import Dataset
from advisor.errors import TechniqueError
from advisor.measure.latency import sample_feed, time_models
from advisor.measure.quality import fidelity, mean_score, run_outputs
from advisor.techniques._base import ApplyContext, Technique, TechniqueConfig, param
from advisor.techniques._onnxq import CALIBRATION_METHODS, ArrayReader, float_inputs, quiet
from advisor.techniques._registry import register
from advisor.techniques.fiq import FIQConfig, StaticQuantizer, float_notes

__all__ = ["MPQ", "MPQConfig", "sensitivity"]

PROBE = 16  # calibration samples the SQNR analysis runs (it holds every activation in memory)
PROBE_LOO = 32  # calibration samples each leave-one-out variant runs
_CHUNK = 4
MIN_GAIN = 0.01  # a layer stays in float only if it closes >= 1% of the remaining cosine gap


@dataclass(frozen=True)
class MPQConfig(TechniqueConfig):
    min_fidelity: float = param(0.99, valid=(0.0, 1.0), search=(0.95, 0.99), step=0.01,
                                help="fidelity to the input model on the calibration samples at which "
                                     "to stop keeping layers in float (agreement, or cosine)")
    max_float: int = param(8, valid=(1, 1000), search=(2, 16), step=2,
                           help="most layers kept in float")
    calibration_size: int = param(200, valid=(1, 5000), search=(100, 300), step=100,
                                  help="calibration samples, capped by the calibration split")
    method: str = param("minmax", choices=tuple(CALIBRATION_METHODS),
                        help="how activation ranges are calibrated")
    per_channel: bool = param(True, choices=(True, False), search=(True,),
                              help="one weight scale per output channel")
    bias_correction: bool = param(True, choices=(True, False),
                                  help="FIQ's local bias correction of each quantization (Nagel et al. "
                                       "2019)")
    min_speedup: float = param(1.5, valid=(0.0, 100.0), search=(1.2, 2.0), step=0.2,
                               help="a layer stays in float only while the model stays this many times "
                                    "faster (p50) than the input model, timed together here; 0 = no limit")
    rank_by: str = param("loss", choices=("loss", "sqnr"),
                         help="order of candidates: loss = measured one at a time (leave-one-out) on "
                              "calibration samples; sqnr = qdq_loss_debug SQNR only (faster)")


def _sqnr_any(x, y) -> float:
    """``qdq_loss_debug``'s SQNR, also for 0-d weights (it calls ``len`` on what comes back as a
    numpy scalar for those: seen on a transformer's scalar constants)."""
    return sqnr_of(np.atleast_1d(np.asarray(x, dtype=np.float64)), np.atleast_1d(np.asarray(y, dtype=np.float64)))


def sensitivity(float_path: Path, qdq_path: Path, data: Dataset, input_names: list[str],
                samples: int = PROBE) -> dict[str, float]:
    """Each quantized node of the QDQ model -> the lowest SQNR (dB) among the quantized
    activations and weights it reads, on the first ``samples`` of ``data`` (lower = more
    sensitive). Uses onnxruntime's ``qdq_loss_debug``."""
    qdq = onnx.load(str(qdq_path))
    with tempfile.TemporaryDirectory(dir=Path(qdq_path).parent, prefix="sqnr-") as tmp:
        aug = Path(tmp) / "aug.onnx"
        with quiet():
            modify_model_output_intermediate_tensors(str(qdq_path), str(aug),
                                                     op_types_for_saving=["QuantizeLinear", "DequantizeLinear"])
        sums: dict[str, list[float]] = {}
        n = min(samples, len(data))
        for start in range(0, n, _CHUNK):  # a few samples at a time: activations are large
            reader = ArrayReader(data.take(slice(start, min(n, start + _CHUNK))), _CHUNK, input_names)
            with quiet():
                matched = create_activation_matching(collect_activations(str(aug), reader))
                for name, m in matched.items():  # the noise QDQ adds to this tensor (no float run needed)
                    pre, post = ([np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in m[k]]
                                 for k in ("pre_qdq", "post_qdq"))  # 0-d tensors come back as scalars
                    sums.setdefault(name, []).append(float(sqnr_of(pre, post)))
        with quiet():
            werr = compute_weight_error(create_weight_matching(str(float_path), str(qdq_path)),
                                        err_func=_sqnr_any)
    sqnr = {k: float(np.mean(v)) for k, v in sums.items()} | {k: float(v) for k, v in werr.items()}
    # tensor -> the dequantized names nodes read it by (the DQ node's output)
    dq_of = {out: n.input[0] for n in qdq.graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    q_src = {out: n.input[0] for n in qdq.graph.node if n.op_type == "QuantizeLinear" for out in n.output}
    out: dict[str, float] = {}
    for node in qdq.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        worst = None
        for i in node.input:
            if i not in dq_of:
                continue
            src = dq_of[i]
            src = q_src.get(src, src)  # activation: DQ <- Q <- float tensor; weight: DQ <- int8 initializer
            for key in (src, src.removesuffix("_quantized")):
                if key in sqnr and np.isfinite(sqnr[key]):
                    worst = sqnr[key] if worst is None else min(worst, sqnr[key])
                    break
        if worst is not None:
            out[node.name] = worst
    return out


def _score(outs: list[np.ndarray], ref: list[np.ndarray], names: list[str] | None = None) -> tuple[float, float]:
    """(fidelity, closeness): the figure the target is set on (agreement for class outputs,
    cosine otherwise) and a continuous one that sees small gains (mean cosine of the raw outputs,
    worst output): one layer rarely flips a whole sample, so single steps are judged on it."""
    close = min(mean_score("cosine", o, r) for o, r in zip(outs, ref, strict=True))
    return fidelity(outs, ref, names), close


def _weighted(qdq_path: Path) -> set[str]:
    """Nodes of the QDQ model that read an INT8 initializer (a weight) through a DequantizeLinear."""
    g = onnx.load(str(qdq_path), load_external_data=False).graph
    inits = {t.name for t in g.initializer}
    dq_w = {o for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits for o in n.output}
    return {n.name for n in g.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
            and dq_w & set(n.input)}


def _leave_one_out(pre: Path, base: Path, nodes: list[str], probe: Dataset, ref: list[np.ndarray],
                   work: Path, ctx: ApplyContext) -> dict[str, float]:
    """Each node alone put back in float in the all-INT8 model (a graph edit, no re-quantization):
    how much closer (output cosine) the model gets to the original on ``probe``."""
    head = [r[: len(probe)] for r in ref]
    base_close = _score(run_outputs(base, probe), head)[1]
    out = {}
    tmp = work / "loo.onnx"
    for i, name in enumerate(nodes):
        ctx.run.check()
        float_inputs(base, pre, [name], dst=tmp)
        out[name] = _score(run_outputs(tmp, probe), head)[1] - base_close
        if i % 8 == 0:
            ctx.run.report("MPQ", 0.2 + 0.2 * i / max(1, len(nodes)), f"leave-one-out {i + 1}/{len(nodes)}")
    tmp.unlink(missing_ok=True)
    return out


@register
class MPQ(Technique):
    name = "MPQ"
    title = "mixed precision (INT8, sensitive layers in float)"
    source = ("onnxruntime quantization.qdq_loss_debug (per-tensor SQNR); Lee et al. 2022 (FIQ); "
              "greedy float fallback measured on the calibration samples")
    Config = MPQConfig
    precision = "int8"
    needs_calibration = True

    def apply(self, model, data, config: MPQConfig, ctx: ApplyContext):
        names = [i.name for i in model.inputs]
        fiq = FIQConfig(calibration_size=config.calibration_size, method=config.method,
                        per_channel=config.per_channel,
                        bias_correction="local" if config.bias_correction else "off")
        work = ctx.workdir / "mpq.work"
        q = StaticQuantizer(model.onnx_path, work, data, fiq, names)
        try:
            probe = data.calib.take(slice(0, q.samples))
            ref = run_outputs(model.onnx_path, probe)
            outputs = [o.name for o in model.outputs]

            def measure(path: Path) -> tuple[float, float]:
                return _score(run_outputs(path, probe), ref, outputs)

            ctx.run.report(self.name, 0.05, "static INT8 of every layer")
            base = q.quantize(work / "mpq-0.onnx")
            fid, close = measure(base)
            ctx.run.report(self.name, 0.15, "per-layer sensitivity (qdq_loss_debug)")
            try:
                sens = sensitivity(q.pre, base, probe, names)
            except Exception as e:  # noqa: BLE001 - onnxruntime raises many types
                raise TechniqueError(f"MPQ: sensitivity analysis failed: {str(e).splitlines()[0][:200]}") from None
            order = sorted(sens, key=lambda k: sens[k])
            gains: dict[str, float] = {}
            if config.rank_by == "loss":
                ctx.run.report(self.name, 0.2, "each weighted layer in float alone (leave-one-out)")
                gains = _leave_one_out(q.pre, base, [n for n in order if n in _weighted(base)],
                                       probe.take(slice(0, PROBE_LOO)), ref, work, ctx)
                order = sorted(gains, key=lambda k: -gains[k]) + [n for n in order if n not in gains]
            feed = sample_feed(model.inputs, data.calib.inputs)
            kept: list[str] = []
            steps = [(None, fid, base)]
            too_slow = 0
            for tries, cand in enumerate(order[: 2 * config.max_float], start=1):
                if fid >= config.min_fidelity or len(kept) >= config.max_float:
                    break
                ctx.run.check()
                path = q.quantize(work / f"mpq-{tries}.onnx", [*kept, cand])
                f, c = measure(path)
                ctx.run.report(self.name, 0.15 + 0.75 * tries / (2 * config.max_float),
                               f"{cand} in float: fidelity {f:.3f}, cosine {c:.4f}")
                better = c - close >= MIN_GAIN * (1.0 - close) and f >= fid  # closer, no less faithful
                if better and config.min_speedup > 0:
                    t_in, t_mix = time_models([model.onnx_path, path], feed, seconds=0.15, min_runs=10,
                                              ctx=ctx.run)
                    if t_in.p50_ms / t_mix.p50_ms < config.min_speedup:
                        better, too_slow = False, too_slow + 1
                if better:
                    kept.append(cand)
                    fid, close = f, c
                    steps.append((cand, f, path))
                else:
                    path.unlink(missing_ok=True)
            t_in, *lat = time_models([model.onnx_path, *(p for _, _, p in steps)], feed, seconds=0.2,
                                     min_runs=20, ctx=ctx.run)
            out = ctx.workdir / "mpq.onnx"
            shutil.copyfile(steps[-1][2], out)
        finally:
            q.close()
            shutil.rmtree(work, ignore_errors=True)
        ctx.notes.update(float_notes(q))
        ctx.notes["calibration_samples"] = q.samples
        ctx.notes["fidelity_int8_calibration"] = round(steps[0][1], 4)
        ctx.notes["fidelity_mixed_calibration"] = round(fid, 4)
        ctx.notes["kept_in_float"] = len(kept)
        ctx.notes["speedup_calibration_timing"] = (f"input model p50 {t_in.p50_ms:.3f} ms, all-INT8 "
                                                   f"{lat[0].p50_ms:.3f} ms, mixed {lat[-1].p50_ms:.3f} ms "
                                                   "(one short interleaved run while compressing)")
        if too_slow:
            ctx.notes["rejected_too_slow"] = (f"{too_slow} layer(s) would have brought the speed-up under "
                                              f"{config.min_speedup:g}x")
        lines = []
        for i in range(1, len(steps)):
            cand, f, _ = steps[i]
            alone = f", alone +{gains[cand]:.4f} cosine" if cand in gains else ""
            lines.append(f"{cand} (sqnr {sens[cand]:.1f} dB{alone}): fidelity {steps[i - 1][1]:.3f}->{f:.3f}, "
                         f"p50 {lat[i - 1].p50_ms:.3f}->{lat[i].p50_ms:.3f} ms")
        ctx.notes["kept_in_float_steps"] = "; ".join(lines) or "none: all-INT8 met the fidelity target"
        ctx.notes["most_sensitive"] = ", ".join(f"{k} {sens[k]:.1f} dB" for k in order[:5])
        if fid < config.min_fidelity:
            ctx.notes["fidelity_target"] = (f"{config.min_fidelity:g} not reached on the calibration samples "
                                            f"with {len(kept)} layer(s) in float")
        return model.derive(out, None)
