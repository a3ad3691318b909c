"""Making the advice: the choice (:func:`advisor.choice.choose`) explained -- measurements first,
then the rules and the research they come from, every reason with its evidence and source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import onnxruntime as ort

from advisor.advice import (
    MEASURED,
    PICK_RULES,
    Advice,
    figure_words,
    figures_source,
    latency_words,
    resolvable_limits,
    speed_cell,
    unconfirmed_why,
)
from advisor.budget import Budget
from advisor.choice import Choice, FinalRace, choose
from advisor.decide import KEYS, binding, drop_of, excess, judge, reference_latency, speed
from advisor.measure.latency import LATENCY_RESOLUTION
from advisor.problem import Evaluation, Problem
from advisor.types import LatencyStats, Reason

if TYPE_CHECKING:  # a type only: the ranking sits above the advice and passes its value in
    from advisor.ranking import Ranking

__all__ = ["build_advice"]


def build_advice(
    problem: Problem,
    budget: Budget,
    evals: list[Evaluation],
    *,
    device: dict[str, Any],
    trials: dict[str, Any],
    extra_reasons: list[Reason] | None = None,
    ranking: Ranking | None = None,
    choice: Choice | None = None,
    reproducibility: dict[str, Any] | None = None,
) -> Advice:
    """Choose under ``budget`` (:func:`advisor.choice.choose` unless ``choice`` is given) and explain:
    measurements first, then rules and research."""
    if choice is None:
        choice = choose(problem, budget, evals)
    base = problem.baseline
    measured = [e for e in choice.candidates if e.measurement is not None]
    nearest: list[Evaluation] = []
    bind = None
    if choice.pick is None:
        nearest = sorted((e for e in measured if e.measurement is not base),
                         key=lambda e: excess(budget, base, e.measurement))[:3]
        bind = binding(budget, base, [e.measurement for e in measured])
    advice = Advice(problem, budget, choice, bind, nearest, [], device, trials, ranking, reproducibility or {},
                    failed=[e for e in evals if not e.ok])
    advice.reasons.extend(_reasons(advice))
    advice.reasons.extend(extra_reasons or [])
    if ranking is not None:
        advice.reasons.extend(_ranking_reasons(ranking, advice.shown, problem.data.metric, base.quality))
        advice.reasons.extend(_steering_reasons(ranking, measured, base, problem.data.metric, trials))
    if budget.tier:
        picks = {"low": "PRQ", "mid": "PRN", "high": "F16 or PRN"}
        how = ("measured the options here" if base.latency.measured else
               f"compared the options for profile {base.latency.profile} (latency predicted from its profile)")
        advice.reasons.append(Reason(
            f"For the {budget.tier}-end tier Lee et al. picked {picks[budget.tier]} on their device; "
            f"this advice {how} instead of assuming their device's behaviour.",
            "Lee et al. 2022, section 4.3, strategy per AIoT service tier",
            "Lee et al. 2022, Sensors 22(19):7344",
        ))
    return advice


def _reasons(a: Advice) -> list[Reason]:
    """The measured reasons: the pick and its ties, its figures, its confirmation, and every other
    candidate's verdicts."""
    p, b, ch = a.problem, a.budget, a.choice
    base, metric = p.baseline, p.data.metric
    out: list[Reason] = []
    rows = a.rows()
    n_ok = sum(1 for r in rows if r.measurement is not None)
    if ch.pick is not None:
        m = ch.pick.measurement
        d = drop_of(base, m)
        out.append(Reason(
            f"{ch.pick.label} is the pick on validation: {PICK_RULES[b.objective]}.",
            f"{len(ch.feasible)} of {n_ok} measured candidates (the original included) meet every limit: "
            f"{b.describe()}; chosen on the validation split ({metric} {d.describe()})",
            "advisor pick rule (docs/measurement.md, the decision rule)"))
        if ch.ties:
            out.append(_tie_reason(a))
        if ch.race is not None:
            out.append(_race_reason(a, ch.race))
        ref = reference_latency(base, m)
        fig = speed(base, m)
        out.append(Reason(
            f"{ch.pick.label}: {latency_words(m.latency)} vs {ref.p90_ms:.3f} ms original; p50 speed-up "
            f"{speed_cell(fig)} against the original timed in the same run; file {m.size_bytes / 1024:.0f} KB vs "
            f"{base.size_bytes / 1024:.0f} KB ({base.size_bytes / m.size_bytes:.1f}x smaller).",
            _latency_evidence(m.latency) + f"; {metric} {d.describe()}; compression took {m.compress_seconds:.1f} s",
            figures_source(m)))
        out.append(_confirmation_reason(a))
    else:
        shown = a.shown
        js = judge(b, base, shown.measurement) if shown.measurement is not None else {}
        out.append(Reason(
            f"Nothing meets the budget; the binding constraint is {a.binding}.",
            f"nearest: {shown.label}: " + "; ".join(f"{k} {v.state} ({v.figure} vs {v.limit})"
                                                     for k, v in js.items() if not v.meets) + f" ({b.describe()})",
            "advisor pick rule (docs/measurement.md, the decision rule)"))
    for r in rows:
        if r.measurement is None:
            out.append(Reason(f"{r.label} was not measured: {r.error}", "technique check or failure", "advisor"))
        elif not r.meets and not r.original:
            bad = {k: v for k, v in r.verdicts.items() if not v.meets}
            more = [f"about {v.more} more validation samples would resolve its accuracy" for v in bad.values()
                    if v.more]
            out.append(Reason(
                f"{r.label}: " + ", ".join(f"{k} {v.state}" for k, v in bad.items()) + (f" ({more[0]})" if more else "")
                + ".",
                "; ".join(f"{k}: {v.figure} vs {v.limit}" for k, v in bad.items())
                + f"; {latency_words(r.measurement.latency)}",
                figures_source(r.measurement)))
    for label, why in ch.unavailable:
        out.append(Reason(f"{label} cannot be picked or shipped: {why}.",
                          "the study's artifact store (every trial's measured model, checked by sha256)",
                          "advisor: ship exactly what was measured (docs/search.md)"))
    for e in ch.slower:
        fig = speed(base, e.measurement)
        out.append(Reason(
            f"{e.label} meets every limit but measured slower than the original ({speed_cell(fig)} p50 speed-up, "
            "same run): never the pick of a latency objective.",
            f"p50 ratio {fig.value:.3f} [{fig.lo:.3f}, {fig.hi:.3f}] over {fig.blocks} paired blocks",
            MEASURED))
    out.extend(_provenance_reasons(a))
    limits = resolvable_limits(p, b)
    if b.max_accuracy_drop is not None and limits["test"] > b.max_accuracy_drop:
        out.append(Reason(
            f"The test split ({len(p.data.test)} samples) cannot confirm a {b.max_accuracy_drop:g} pt limit even for "
            f"a candidate that never differs from the original: the smallest limit it can show is "
            f"{limits['test']:.2f} pt at {b.confidence:.0%} confidence. Give more data.",
            f"resolvable limits: validation {limits['validation']:.2f} pt, test {limits['test']:.2f} pt "
            f"({p.data.summary()})",
            "advisor: one-sided bounds of a zero drop (docs/measurement.md)"))
    return out


def _provenance_reasons(a: Advice) -> list[Reason]:
    """Which device measured the figures, and a warning when its onnxruntime is not this one's: the
    quantized graphs were made here and run there (measured anyway, labelled)."""
    wheres = {m.latency.where for m in (e.measurement for e in a.choice.candidates) if m is not None
              and m.latency.where is not None}
    out = []
    for w in sorted(wheres, key=lambda w: (w.name, w.threads)):
        if w.here and w.onnxruntime == ort.__version__:
            continue
        text = (f"Figures measured on {w.name} (host {w.host}, {w.cpu}, {w.cores} cores, onnxruntime {w.onnxruntime}, "
                f"{w.threads} thread(s); fingerprint {w.fingerprint}).")
        if w.onnxruntime != ort.__version__:
            text += (f" Its onnxruntime ({w.onnxruntime}) is not this workstation's ({ort.__version__}): the models "
                     "were made here and measured there as they are; kernels and graph optimisations may differ.")
        out.append(Reason(text, "the provenance every latency figure records (advice.json: latency.where)",
                          "advisor: measure on the target (docs/target.md)"))
    return out


def _tie_reason(a: Advice) -> Reason:
    p, ch = a.problem, a.choice
    base = p.baseline
    key = KEYS[a.budget.objective][0]
    group = [ch.pick, *ch.ties]
    what = {"speed": "speed (same-run speed-ups within measured noise or within 3%)",
            "accuracy": "accuracy drop (within 0.1 pt)", "size": "size (within 1%)"}[key]
    return Reason(
        f"{ch.pick.label} is tied on {what} with {', '.join(e.label for e in ch.ties)}; the tie-break decided "
        f"({PICK_RULES[a.budget.objective].split('; ', 1)[-1]}). A rerun may pick any of them.",
        "; ".join(f"{e.label}: speed-up {speed_cell(speed(base, e.measurement))}, {p.data.metric} drop "
                  f"{drop_of(base, e.measurement).value:.2f} pt, {e.measurement.size_bytes / 1024:.0f} KB"
                  for e in group),
        "advisor pick rule: ties within measured noise (docs/measurement.md)")


def _race_reason(a: Advice, race: FinalRace) -> Reason:
    return Reason(
        f"Final race: {', '.join(race.finalists)} and the original were timed again together, interleaved, over "
        f"{race.blocks} paired blocks" + ("" if race.resolved else
                                          " (still within noise of each other when the rounds ran out)") + ".",
        f"{race.retimed} block(s) timed again because the machine was busy; speeds within "
        f"{LATENCY_RESOLUTION:.0%} are ties",
        MEASURED)


def _confirmation_reason(a: Advice) -> Reason:
    p, b, ch = a.problem, a.budget, a.choice
    c, metric = ch.confirmation, p.data.metric
    if c is None:
        return Reason(f"{ch.pick.label} was not checked on the test split: its model file is not here.",
                      "no model file for the pick on this machine", "advisor: choose on validation, confirm on test")
    if c.confirmed:
        text = (f"Confirmed on the untouched test split: {metric} {c.drop.describe()}"
                + (f", within the {b.max_accuracy_drop:g} pt limit." if b.max_accuracy_drop is not None else "."))
    else:
        alt = ch.fallback
        text = (f"Not confirmed: {unconfirmed_why(c, metric)}. "
                + (f"The nearest confirmed option is {alt.label} ({metric} {alt.drop.describe()})."
                   if alt is not None else "No confirmed option among the next candidates."))
    checked = f"; then checked on test: {', '.join(f'{x.label} ({x.state})' for x in ch.checked)}" if ch.checked else ""
    return Reason(text, f"test figure {figure_words(c.figure)}; paired against the original's test outputs{checked}"
                  + ("; the test split was consulted more than once, so these checks are optimistic"
                     if ch.checked else ""),
                  "advisor: choose on validation, confirm on the untouched test split (docs/measurement.md)")


def _latency_evidence(lat: LatencyStats) -> str:
    if lat.source == "predicted":
        return (f"p50 {lat.p50_ms:.3f} ms predicted for profile {lat.profile or '?'} at {lat.threads} thread(s) "
                "(no run on that device; p90 scaled by the p90/p50 ratio of this run)")
    noise = "" if lat.spread is None else f", run-to-run noise +-{100 * lat.spread:.1f}%"
    retimed = f", {lat.retimed} block(s) re-timed (busy machine)" if lat.retimed else ""
    return f"p50 {lat.p50_ms:.3f} ms over {lat.runs} runs at {lat.threads} thread(s){noise}{retimed}"


def _steering_reasons(ranking: Ranking, measured: list[Evaluation], base, metric: str,
                      trials: dict[str, Any]) -> list[Reason]:
    """What the ranking steered and where a measurement contradicted it: the candidates the search
    deferred (their predicted speed-up lay wholly below the best measured), and each measured
    candidate at its strategy's defaults whose same-run speed-up or paired drop fell outside its
    predicted interval."""
    from advisor.ranking import contradiction

    out: list[Reason] = []
    deferred = trials.get("deferred") or {}
    if deferred:
        out.append(Reason(
            f"The search deferred {len(deferred)} candidate(s) predicted to lose on latency, to run only after "
            "every other: " + "; ".join(deferred.values()) + ".",
            f"study {trials.get('study', '?')}, user attribute deferred_why",
            f"advisor ranker ({ranking.coverage:.0%} intervals) vs measurement on this device"))
    for e in measured:
        if e.measurement is base or e.label.split(" #")[0] != e.strategy:
            continue  # a variant has no prediction of its own in the ranking
        try:
            got = speed(base, e.measurement).speedup
        except ValueError:
            got = None
        r = contradiction(ranking, e.strategy, measured_speedup=got, label=e.label, metric=metric,
                          measured_drop_pts=drop_of(base, e.measurement).value)
        if r is not None:
            out.append(r)
    return out


def _ranking_reasons(ranking: Ranking, shown: Evaluation | None, metric: str, base_quality: float) -> list[Reason]:
    """Rules that fired for the shown strategy, general rule notes, exclusions, and how the
    ranker's prediction compares with what was measured."""
    out: list[Reason] = []
    items = {i.strategy: i for i in ranking.items}
    name = shown.strategy if shown is not None else None
    item = items.get(name) if name else None
    if item is not None:
        out.extend(item.reasons)
        if getattr(item, "unknown", None) is not None:
            out.append(Reason(f"No prediction was made for {name} before the trials (unknown): {item.unknown}.",
                              "the strategy's dry run without training failed", "advisor ranker"))
        elif item.predicted and shown is not None and shown.measurement is not None:
            m = shown.measurement
            pr = item.predicted
            lat, size, acc = pr["latency_ms_p90"], pr["size_bytes"], pr["accuracy_drop_pts"]
            drop = (base_quality - m.quality) * 100 if m.drop is None else m.drop.value
            got = "this run" if m.latency.measured else f"this run (latency predicted for profile {m.latency.profile})"
            out.append(Reason(
                f"Predicted before any trial (rank {item.rank}, {item.p_meets:.0%} chance to fit) vs {got}: "
                f"p90 {lat.mean:.3f} ms [{lat.lo:.3f}, {lat.hi:.3f}] vs {m.latency.p90_ms:.3f} ms; "
                f"size {size.mean / 1024:.0f} KB [{size.lo / 1024:.0f}, {size.hi / 1024:.0f}] "
                f"vs {m.size_bytes / 1024:.0f} KB; "
                f"{metric} drop {acc.mean:+.2f} pt [{acc.lo:+.2f}, {acc.hi:+.2f}] vs {drop:+.2f} pt.",
                f"ranker trained on {ranking.kb_records} knowledge-base records; "
                f"baseline latency {ranking.baseline_latency_source}",
                "advisor ranker (rules + random-forest regression) vs " + (
                    "measurement on this device" if m.latency.measured else "this run's figures"),
            ))
    out.extend(ranking.reasons)
    for i in ranking.items:
        if i.excluded is not None:
            out.append(Reason(f"{i.strategy} was not tried: {i.excluded}", "rule or technique requirement",
                              i.reasons[0].source if i.reasons else "advisor"))
        elif getattr(i, "unknown", None) is not None and i is not item:
            out.append(Reason(f"{i.strategy}: prediction unknown ({i.unknown}).", "ranking before any trial",
                              "advisor ranker"))
    return out

