"""The rules half of the ranker: small functions, each with its source, that exclude a strategy
(with a reason) or shift its place in the ranking. Every firing becomes a ``{text, evidence,
source}`` reason in the ranking and the advice.

Rules never name techniques: they select strategies by the capabilities each technique declares
(``precision``, ``changes``, ``trains`` ... see :class:`advisor.techniques.Technique`), so a new
technique is judged by what it is.

Shifts are in ranking-score units (one unit ~ a factor e on the objective) and move the order,
never the predicted figures: predictions stay the regression's, so predicted-vs-measured is honest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from advisor.budget import Budget
from advisor.profiling import DeviceFacts
from advisor.strategies import Strategy
from advisor.techniques import Technique
from advisor.types import Measurement, Reason

__all__ = [
    "RuleContext", "Firing", "RULES", "rule", "fire_rules", "LEE", "RACHMANTO", "QIN",
    "OVERVIEW", "scratch_data_needed", "post_training",
]

LEE = "Lee et al. 2022, Sensors 22(19):7344"
RACHMANTO = "Rachmanto et al. 2024, MATRIK 23(3)"
QIN = "Qin et al. 2018, ISPA (To Compress, or Not to Compress)"
OVERVIEW = "Overview of model compression for edge deployment (seed 001)"
PROFILE = "device profile (measured on the device)"
ORT = "onnxruntime quantization docs; measured trap in docs/ecosystem (ConvInteger)"
MEASURED_SCRATCH = ("measured here (issue 13): KD from scratch on a plain-ONNX ImageNet CNN with 200 unlabelled "
                    "crops lost 47.5 pt of top-1 agreement at ~7 min a trial")
MEASURED_CONVINTEGER = ("measured on the build machine (ecosystem.md): EfficientNet-Lite0 FP32 5.32 ms, dynamic INT8 "
                        "61 ms (ConvInteger, ~10x slower), static INT8 QDQ 2.43 ms")


def post_training(strategy: Strategy) -> bool:
    """Every step needs calibration samples at most, never training."""
    return all(t.post_training for t in strategy.techniques)


def _static_int8(t: Technique) -> bool:
    return t.precision == "int8"


def _any_int8(t: Technique) -> bool:
    return t.precision.startswith("int8")


def _prunes(t: Technique) -> bool:
    return t.changes in ("zeros", "channels")

#: Samples a compact network trained from scratch needs at least, by the model's scale: Lee et al.
#: and Rachmanto et al. trained their students on full labelled sets (CIFAR-10: 50,000 images); the
#: seed knowledge base measured working compact students on 8x8 digits (1,797 samples) and small
#: tabular sets (178-569 samples); a from-scratch student on 200 ImageNet crops lost 47.5 pt.
REAL_SCALE_INPUT = 50_000  # input elements (3x128x128 = 49,152); a 224x224 RGB image is 150,528
REAL_SCALE_MACS = 100_000_000


def scratch_data_needed(model: dict[str, float]) -> int:
    """Fewest samples for which training a compact network from scratch is worth a trial."""
    inputs, macs = 10 ** model.get("m_log_input", 0.0), 10 ** model.get("m_log_macs", 0.0)
    if inputs >= REAL_SCALE_INPUT or macs >= REAL_SCALE_MACS:
        return 10_000
    return 1_000 if inputs >= 256 else 100  # small images; tabular rows


@dataclass(frozen=True)
class RuleContext:
    """What rules may look at: the model's features (``ranking.features.model_features``), the
    device facts (:class:`~advisor.profiling.DeviceFacts`), the budget and the original's measurement."""

    model: dict[str, float]
    budget: Budget
    facts: DeviceFacts
    baseline: Measurement
    labelled: bool
    kb_similar: int = 0

    @property
    def params(self) -> float:
        return 10 ** self.model.get("m_log_params", 0.0)

    @property
    def macs(self) -> float:
        return 10 ** self.model.get("m_log_macs", 0.0)

    @property
    def samples(self) -> int:
        """Samples the data holds (all splits); records without the feature count their training split."""
        return round(10 ** self.model.get("m_log_samples", self.model.get("m_log_train", 0.0)))

    @property
    def trainable(self) -> bool:
        """A PyTorch source is present, so a student can be derived from the model."""
        return self.model.get("m_trainable", 1.0) >= 0.5

    def from_scratch(self, strategies: list[Strategy]) -> tuple[str, ...]:
        """Strategies that train a network from random weights: a new architecture always; a
        student derived from the model when there is no PyTorch source to derive it from."""
        return tuple(s.name for s in strategies if any(t.from_scratch(self.trainable) for t in s.techniques))


@dataclass(frozen=True)
class Firing:
    """One rule firing: which strategies it touches, how, and why.

    ``aspect`` says what the shift is about (``latency``, ``size``, ``accuracy`` or ``any``): it
    moves the order only when the budget's objective is that aspect (or for ``any``). ``rule``
    is filled in by the registry with the rule function's name (a rule names itself once).
    """

    strategies: tuple[str, ...]
    effect: str  # "exclude", "shift", "last" (after every other strategy) or "note"
    reason: Reason
    shift: float = 0.0
    aspect: str = "any"
    rule: str = ""


@dataclass(frozen=True)
class _Rule:
    name: str
    source: str
    fn: Callable[[RuleContext, list[Strategy]], list[Firing]] = field(repr=False)


RULES: list[_Rule] = []


def rule(source: str):
    """Register a rule function ``fn(ctx, strategies) -> list[Firing]`` under its own name, with
    its source; every firing it returns carries that name."""

    def deco(fn):
        name = fn.__name__

        def named(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
            return [replace(f, rule=name) for f in fn(ctx, strategies)]

        RULES.append(_Rule(name, source, named))
        return fn

    return deco


def fire_rules(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    out: list[Firing] = []
    for r in RULES:
        out.extend(r.fn(ctx, strategies))
    return out


def _with(strategies: list[Strategy], capable: Callable[[Technique], bool]) -> tuple[str, ...]:
    """Names of the strategies with a step for which ``capable(technique)`` holds."""
    return tuple(s.name for s in strategies if any(capable(t) for t in s.techniques))


def _latency_matters(b: Budget) -> bool:
    return b.objective == "latency" or b.max_latency_ms is not None or b.max_latency_ratio is not None


@rule(PROFILE)
def int8_speed_here(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    s, verdict = ctx.facts.int8_speedup, ctx.facts.int8_verdict()
    touched = _with(strategies, _static_int8)
    if verdict is None or not touched:
        return []
    if verdict == "faster":
        return [Firing(touched, "shift", Reason(
            f"INT8 measured {s:.1f}x faster than FP32 on this device: static INT8 strategies move up.",
            f"profile: int8_speedup {s:.2f} (INT8 vs FP32 GEMM throughput, measured)", PROFILE),
            shift=0.5, aspect="latency")]
    if verdict == "slower":
        return [Firing(touched, "shift", Reason(
            f"INT8 measured {1 / s:.1f}x slower than FP32 on this device (as on Lee et al.'s): "
            f"INT8 strategies move down.",
            f"profile: int8_speedup {s:.2f}", f"{PROFILE}; {LEE}"), shift=-1.0, aspect="latency")]
    return [Firing(touched, "note", Reason(
        f"INT8 and FP32 run at similar speed here ({s:.2f}x): INT8 is mainly a size option.",
        f"profile: int8_speedup {s:.2f}", PROFILE))]


@rule(PROFILE)
def fp16_no_speedup(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    s = ctx.facts.fp16_speedup
    touched = _with(strategies, lambda t: t.precision == "fp16")
    if ctx.facts.fp16_verdict() != "no-gain" or not touched:
        return []
    return [Firing(touched, "shift", Reason(
        f"FP16 gives no speed-up on this CPU provider ({s:.2f}x FP32): F16 halves the file but not the latency.",
        f"profile: fp16_speedup {s:.2f}; Lee et al. saw F16 halve size at ~equal latency",
        f"{PROFILE}; {LEE}"), shift=-0.3 if _latency_matters(ctx.budget) else 0.0, aspect="latency")]


@rule(ORT)
def dynamic_int8_on_conv(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    convs = int(ctx.model.get("m_n_conv", 0))
    touched = _with(strategies, lambda t: t.precision == "int8-dynamic")
    if convs == 0 or not touched:
        return []
    share = ctx.model.get("m_frac_conv_macs", 1.0)
    heavy = share >= 0.5
    reason = Reason(
        "Dynamic INT8 on convolutions takes onnxruntime's slow ConvInteger path"
        + (": on a convolution-heavy CNN it ran ~10x slower than FP32 here" if heavy else "")
        + " (Lee et al. saw BLQ 10-20x slower than FP32 on their device too).",
        f"the model has {convs} Conv nodes ({share:.0%} of multiply-adds); BLQ's default mode is dynamic INT8",
        f"{ORT}; {MEASURED_CONVINTEGER}; {LEE}")
    if _latency_matters(ctx.budget) and share >= 0.2:  # a patch-embedding conv in a transformer: a note
        # ln(10) ~ 2.3: the measured slow-down on a conv-heavy CNN, in score units
        return [Firing(touched, "shift", reason,
                       shift=-2.3 if heavy else -1.5, aspect="latency")]
    return [Firing(touched, "note", reason)]


@rule("measured (ecosystem.md, real-models.md): dynamic INT8 on MatMul-heavy encoders")
def dynamic_int8_on_matmul(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    share = ctx.model.get("m_frac_matmul_macs", 0.0)
    touched = _with(strategies, lambda t: t.precision == "int8-dynamic")
    if not touched or share < 0.5 or ctx.macs < 50_000_000 or not _latency_matters(ctx.budget):
        return []
    return [Firing(touched, "shift", Reason(
        "Dynamic INT8 suits MatMul-heavy encoders: weights quantized once, activations per call, no calibration "
        "(so attention masks cannot break it).",
        f"{share:.0%} of {ctx.macs / 1e6:.0f} M multiply-adds in MatMul/Gemm; measured: all-MiniLM-L6-v2 FP32 3.69 ms, "
        "dynamic INT8 1.05 ms (3.5x faster), cosine 0.994",
        "measured on the build machine (ecosystem.md); real-models.md (1.9-3.5x faster on a 6-layer encoder)"),
        shift=0.5, aspect="latency")]


@rule(LEE)
def zeros_do_not_speed_up(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    touched = _with(strategies, lambda t: t.changes == "zeros")
    if not touched:
        return []
    shift = -0.4 if ctx.budget.objective == "latency" else 0.0
    return [Firing(touched, "shift" if shift else "note", Reason(
        "Unstructured zeros do not speed up dense kernels: PRN shrinks the compressed file, not the latency "
        "(SPR removes channels and does).",
        "Lee et al.: pruning cut stored size to ~30% at similar latency", LEE), shift=shift, aspect="latency")]


@rule(RACHMANTO)
def compression_time_budget(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    limit = ctx.budget.max_compress_seconds
    trains = tuple(s.name for s in strategies if s.trains)
    if not trains:
        return []
    if limit is not None and limit < 15:
        return [Firing(trains, "exclude", Reason(
            f"A {limit:g} s compression limit leaves no time to train: training-based strategies are excluded.",
            f"max_compress_seconds {limit:g}; every training strategy here fine-tunes for several seconds at least",
            RACHMANTO))]
    return [Firing(trains, "note", Reason(
        "Training-based strategies cost compression time; it is measured for every trial and counted against "
        "the budget.", f"max_compress_seconds {limit:g}" if limit else "no compression-time limit", RACHMANTO))]


@rule(f"{RACHMANTO}; {LEE}; measured (issue 13)")
def scratch_training_needs_data(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    touched = ctx.from_scratch(strategies)
    if not touched:
        return []
    need, n = scratch_data_needed(ctx.model), ctx.samples
    labels = "labelled" if ctx.labelled else "unlabelled"
    why_scratch = ("there is no PyTorch source, so the student cannot be derived from the model and starts from "
                   "random weights" if not ctx.trainable else "a compact architecture starts from random weights")
    scale = (f"{ctx.macs / 1e6:.0f} M multiply-adds, {10 ** ctx.model.get('m_log_input', 0.0):,.0f} input elements")
    if n < need:
        return [Firing(touched, "last", Reason(
            f"Training a compact network from scratch on {n} {labels} samples will likely fail ({why_scratch}): "
            f"ranked last. Distillation results come from students trained on full labelled sets.",
            f"{n} samples < {need:,} needed at this scale ({scale}); {MEASURED_SCRATCH}",
            f"{RACHMANTO}; {LEE} (KD students trained on CIFAR-10's 50,000 labelled images); measured (issue 13)"))]
    return []


@rule(f"{ORT}; {LEE}")
def post_training_fits(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    """Post-training strategies first where training cannot pay off: no PyTorch source, or too
    little data to train from scratch (and the model is not so tiny that quantization overhead wins)."""
    touched = tuple(s.name for s in strategies if post_training(s))
    if not touched or ctx.macs < 2_000_000:
        return []
    need, n = scratch_data_needed(ctx.model), ctx.samples
    if ctx.trainable and n >= need:
        return []
    why = "there is no PyTorch source to fine-tune" if not ctx.trainable else f"{n} samples are too few to train on"
    return [Firing(touched, "shift", Reason(
        f"Post-training strategies need only a few hundred calibration samples and no training; {why}: "
        "they are tried first.",
        f"{n} {'labelled' if ctx.labelled else 'unlabelled'} samples; {ctx.macs / 1e6:.0f} M multiply-adds; "
        "measured on the build machine: EfficientNet-Lite0 static INT8 2.2x faster, 3.6x smaller",
        f"{ORT}; {LEE} (FIQ/F16 within ~1 pt of NQ on both MobileNets)"), shift=0.3)]


@rule(OVERVIEW)
def many_parameters(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    touched = _with(strategies, _prunes)
    if ctx.params < 1_000_000 or not touched:
        return []
    return [Firing(touched, "shift", Reason(
        "Pruning suits models with many parameters; gains grow with capacity (Lee et al.: ResNet > VGG).",
        f"{ctx.params / 1e6:.1f} M parameters", f"{OVERVIEW}; {LEE}"), shift=0.2)]


@rule(OVERVIEW)
def large_dense_layers(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    touched = _with(strategies, lambda t: t.changes == "factors")
    frac = ctx.model.get("m_frac_matmul_macs", 0.0)
    if not touched:
        return []
    if frac >= 0.5:
        return [Firing(touched, "shift", Reason(
            "Low-rank factorization suits large fully-connected layers, which dominate this model.",
            f"{frac:.0%} of multiply-adds in MatMul/Gemm", OVERVIEW), shift=0.3)]
    return [Firing(touched, "shift", Reason(
        "Low-rank factorization helps most on large fully-connected layers; here convolutions dominate.",
        f"{frac:.0%} of multiply-adds in MatMul/Gemm", OVERVIEW), shift=-0.2)]


@rule(RACHMANTO)
def distillation_pays(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    starved = set(ctx.from_scratch(strategies)) if ctx.samples < scratch_data_needed(ctx.model) else set()
    touched = tuple(n for n in _with(strategies, lambda t: t.changes == "student") if n not in starved)
    if not touched:
        return []
    limit = ctx.budget.max_compress_seconds
    if limit is not None and limit < 30:
        return []
    return [Firing(touched, "shift", Reason(
        "A good teacher is available and training time is allowed: distillation into a compact student ranked best "
        "in Rachmanto et al. (up to 11.4x smaller, 78.67% faster) and raised students' accuracy in Lee et al.",
        f"original {ctx.baseline.metric} {ctx.baseline.quality:.3f}", f"{RACHMANTO}; {LEE}"), shift=0.3)]


#: Lee et al.'s strategy per service tier (section 4.3), by capability: low-end -> pruning then
#: INT8 (their PRQ; PRN+FIQ); mid -> pruning, alone or then static INT8; high -> FP16 or pruning.
_TIERS: dict[str, tuple[Callable[[tuple[Technique, ...]], bool], str]] = {
    "low": (lambda ts: len(ts) == 2 and ts[0].changes == "zeros" and _any_int8(ts[1]),
            "unstructured pruning followed by INT8"),
    "mid": (lambda ts: bool(ts) and _prunes(ts[0]) and (len(ts) == 1 or (len(ts) == 2 and _static_int8(ts[1]))),
            "pruning, alone or followed by static INT8"),
    "high": (lambda ts: len(ts) == 1 and (ts[0].precision == "fp16" or _prunes(ts[0])), "FP16 or pruning alone"),
}


@rule(LEE)
def tier_strategy(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    tier = ctx.budget.tier
    if tier is None:
        return []
    fits, says = _TIERS[tier]
    touched = tuple(s.name for s in strategies if fits(s.techniques))
    if not touched:
        return []
    return [Firing(touched, "shift", Reason(
        f"Lee et al.'s strategy for the {tier}-end AIoT tier points to {says} ({', '.join(touched)} here).",
        "Lee et al. 2022, section 4.3 (strategy per service tier)", LEE), shift=0.1)]


@rule("measured on the build machine (docs/ecosystem): INT8 overhead on tiny CNNs")
def tiny_model_overhead(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    touched = _with(strategies, _any_int8)
    if ctx.macs >= 2_000_000 or not touched:
        return []
    return [Firing(touched, "shift", Reason(
        "On a model this small, quantize/dequantize overhead outweighs faster INT8 arithmetic.",
        f"{ctx.macs / 1e6:.2f} M multiply-adds per inference",
        "measured: tiny CNN fp32 0.045 ms vs int8 QDQ 0.061 ms (docs/ecosystem)"), shift=-0.5, aspect="latency")]


@rule(ORT)
def depthwise_stays_float(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    dw = ctx.model.get("m_frac_dw_macs", 0.0)
    touched = _with(strategies, _static_int8)
    if dw < 0.3 or not touched:
        return []
    return [Firing(touched, "shift", Reason(
        "Much of this model is depthwise convolution, which INT8 activations leave in float: less INT8 speed-up.",
        f"{dw:.0%} of multiply-adds in depthwise convolutions", ORT), shift=-0.2, aspect="latency")]


@rule(LEE)
def tight_accuracy(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    drop = ctx.budget.max_accuracy_drop
    touched = _with(strategies, lambda t: t.changes in ("architecture", "factors"))
    if drop is None or drop > 0.5 or not touched:
        return []
    return [Firing(touched, "shift", Reason(
        f"An accuracy budget of {drop:g} pt leaves little room for a re-trained architecture.",
        f"max_accuracy_drop {drop:g}", LEE), shift=-0.3)]


@rule(QIN)
def per_network_variation(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    if ctx.kb_similar >= 10:
        return []
    return [Firing((), "note", Reason(
        "Few knowledge-base records resemble this model, and compression effects differ per network: treat the "
        "predictions as rough and let the search measure.",
        f"{ctx.kb_similar} similar records in the knowledge base", QIN))]


@rule(PROFILE)
def busy_device(ctx: RuleContext, strategies: list[Strategy]) -> list[Firing]:
    if not ctx.facts.is_busy():
        return []
    load = ctx.facts.busy_share()
    return [Firing((), "note", Reason(
        f"The device was {load:.0%} busy while profiled: latencies are timed with "
        f"{ctx.facts.suggested_threads or 1} thread(s), spinning {'on' if ctx.facts.suggested_spinning else 'off'}.",
        "on a busy 2-core host, 2 spinning threads ran 2x slower than 1", PROFILE))]
