"""Regenerate the seed knowledge base the ranker ships with.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/seed_kb.py            # everything
    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/seed_kb.py --real-only  # keep the small zoo's records
    .venv/bin/python benchmarks/seed_kb.py --merge OLD.jsonl.gz     # add OLD's records of other machines

Runs every search strategy (at its defaults) on the six-family, three-size model zoo of
``kb_zoo.py``, and the post-training strategies (FIQ, F16, BLQ; MPQ too on pretrained models, whose
accuracy it is about) on the real-scale models of ``kb_zoo.REAL_ZOO``; measures each on this
machine at 1 thread and at all cores (interleaved with the original), and writes one record per
(model, strategy, thread count) to ``advisor/ranking/data/seed_kb.jsonl.gz``. Every record carries
``notes``: scale, init, data size, labelled or not, PyTorch source or plain ONNX; and the latency
ratios predicted for it without timing it: from the profile alone (``pred_latency_ratio``) and, at
the timing threads, from the original's per-node times x the profile (``pred_latency_ratio_shares``).
The profile is the quietest of ``--profiles`` taken at the start (least background load).
``--real-only`` keeps the small zoo's records from the current seed (re-deriving their model
features from the zoo's structure, so features added since are filled in) and measures only the
real models. About half an hour for the small zoo and ~20 min for the real models on the 2-core
build machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.errors import AdvisorError  # noqa: E402
from advisor.measure import MeasureSettings  # noqa: E402
from advisor.problem import problem_from_parts  # noqa: E402
from advisor.progress import RunContext  # noqa: E402
from advisor.ranking import record_trial  # noqa: E402
from advisor.ranking.kb import SEED_PATH  # noqa: E402
from advisor.strategies import applicable_strategies, search_strategies  # noqa: E402
from benchmarks.kb_zoo import REAL_SAMPLES, ZOO, build_real, iter_real, iter_zoo, load, trained  # noqa: E402

REAL_STRATEGIES = ("FIQ", "F16", "BLQ")
#: Mixed precision only where its accuracy means something (pretrained weights): it costs minutes.
PRETRAINED_STRATEGIES = (*REAL_STRATEGIES, "MPQ")


def _measure(prob, name, strategies, facts, profile, family, notes, records, ctx, t0) -> None:
    """Run each applicable strategy on ``prob``; two records per success (1 thread, all cores),
    named ``name`` (not the scratch path a plain-ONNX model was loaded from)."""
    ok, excluded = applicable_strategies(prob.model, prob.data, strategies)
    for s in ok:
        try:
            result, m = prob.evaluate(s, {}, ctx=ctx)
        except AdvisorError as e:
            print(f"    {s}: failed: {str(e)[:200]}", flush=True)
            continue
        for all_threads in (False, True):
            r = record_trial(prob, strategy=s, params=result.params, train_scale=1.0, measurement=m, facts=facts,
                             family=family, all_threads=all_threads, model_path=result.model.onnx_path,
                             profile=profile)
            r["notes"] = notes
            r["model"] = name
            records.append(r)
        print(f"    [{time.time() - t0:6.0f}s] {s}: {m.metric} {m.quality:.3f} "
              f"size x{prob.baseline.size_bytes / m.size_bytes:.1f} "
              f"p50 x{1 / m.extra['latency_ratio']:.2f} {m.compress_seconds:.1f}s", flush=True)
    for s, why in excluded.items():
        print(f"    {s}: not applicable: {why}", flush=True)


def _small_notes(z) -> dict:
    data = load(z.data)
    n = len(data.train) + len(data.calib) + len(data.test)
    return {"scale": "small", "init": "trained briefly (seed 0)", "samples": n, "labelled": True,
            "source": "pytorch", "input": z.data}


def refresh_small(records: list[dict], work: Path) -> list[dict]:
    """The small zoo's records with the model features added since they were measured filled in
    from the zoo's structure (weights do not change them) and data sizes; the measured features
    stay as they were, none is left blank."""
    from advisor.models import describe, model_from_module
    from advisor.ranking.features import model_features

    fresh = {}
    for z in ZOO:
        data = load(z.data)
        shape = tuple(next(iter(data.test.inputs.values())).shape[1:])
        model = model_from_module(f"zoo:{z.name}", z.build(), shape, work / f"refresh-{z.name}")
        n = len(data.train) + len(data.calib) + len(data.test)
        fresh[f"zoo:{z.name}"] = (model_features(describe(model.onnx_path), train=len(data.train),
                                                 classes=data.num_classes, labelled=True, samples=n, trainable=True),
                                  _small_notes(z))
    out = []
    for r in records:
        if r.get("model") in fresh:
            r = {**r, "model_features": {**fresh[r["model"]][0], **r["model_features"]}, "notes": fresh[r["model"]][1]}
        out.append(r)
    return out


def merge(new: list[dict], old_path: Path, int8_dot: float) -> list[dict]:
    """``new`` plus the records of ``old_path`` measured on *other* machines, so the seed holds more
    than one device. Those records predate ``d_int8_dot`` (given here from the machine's known ISA)
    and their predicted latency ratios came from an older predictor: they are dropped, so they teach
    accuracy, size, compression time and whole latency ratios, not corrections to today's predictor."""
    from advisor.profiling import probe_host
    from advisor.ranking.features import int8_dot_product
    from advisor.ranking.kb import seed_records

    host = probe_host()
    here = int8_dot_product({f.lower() for f in host["isa"]})
    new = [r if "d_int8_dot" in r["device_features"] or r.get("machine") != host["cpu"]
           else {**r, "device_features": {**r["device_features"], "d_int8_dot": here}} for r in new]
    machines = {r.get("machine") for r in new}
    kept = []
    for r in seed_records(old_path):
        if r.get("machine") in machines:
            continue
        m = {k: v for k, v in r["measured"].items() if not k.startswith("pred_latency_ratio")}
        kept.append({**r, "measured": m, "device_features": {**r["device_features"], "d_int8_dot": int8_dot}})
    return new + kept


def device_profile(runs: int = 3):
    """The quietest of ``runs`` profiles (least background load while profiling): on a shared
    machine one disturbed profile would teach every record's predicted ratio a wrong device."""
    from advisor.profiling import profile_device

    profiles = [profile_device() for _ in range(max(1, runs))]
    best = min(profiles, key=lambda p: p.run.background_load_cores)
    print("profiles: background load " + ", ".join(f"{p.run.background_load_cores:.2f}" for p in profiles)
          + f" cores; kept {best.run.background_load_cores:.2f}", flush=True)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=SEED_PATH)
    p.add_argument("--families", nargs="*", help="only these families (default: all)")
    p.add_argument("--strategies", nargs="*", default=list(search_strategies()))
    p.add_argument("--real-only", action="store_true",
                   help="keep the small zoo's records from the current seed; measure only the real models")
    p.add_argument("--no-real", action="store_true", help="skip the real-scale models")
    p.add_argument("--real-models", nargs="*", help="only these real models (default: all)")
    p.add_argument("--seconds", type=float, default=0.3, help="timed seconds per model per thread setting")
    p.add_argument("--profiles", type=int, default=3, help="profiles taken at the start; the quietest is used")
    p.add_argument("--merge", type=Path, metavar="OLD", help="only merge: OLD's records of other machines into --out")
    p.add_argument("--old-int8-dot", type=float, default=1.0,
                   help="d_int8_dot of OLD's machines (1: VNNI/AMX or ARM dot product, 0: none)")
    a = p.parse_args(argv)
    if a.merge:
        from advisor.ranking.kb import seed_records

        merged = merge(seed_records(a.out), a.merge, a.old_int8_dot)
        _write(merged, a.out)
        print(f"{len(merged)} records -> {a.out}")
        return 0
    profile = device_profile(a.profiles)
    facts = profile.facts()
    settings = MeasureSettings(threads=1, all_threads=2, seconds=a.seconds, memory=False)
    records: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="seed-kb-"))
    t0 = time.time()
    ctx = RunContext(torch_threads=2)
    fams = set(a.families) if a.families else None
    try:
        if a.real_only:
            from advisor.ranking.kb import seed_records

            kept = [r for r in seed_records(a.out) if str(r.get("model", "")).startswith("zoo:")]
            records.extend(refresh_small(kept, work))
            print(f"kept {len(records)} small-zoo records (features refreshed)", flush=True)
        else:
            for z in iter_zoo(fams):
                model, data, acc = trained(z, work, ctx)
                print(f"[{time.time() - t0:6.0f}s] {z.name}: test accuracy {acc:.3f}", flush=True)
                with problem_from_parts(model, data, settings=settings, workdir=work / f"{z.name}-p",
                                        owns_workdir=True) as prob:
                    _measure(prob, f"zoo:{z.name}", a.strategies, facts, profile, z.family, _small_notes(z), records,
                             ctx, t0)
        if not a.no_real:
            for z in iter_real(fams, set(a.real_models) if a.real_models else None):
                model, data = build_real(z, work)
                shape = "x".join(str(d) for d in model.inputs[0].shape[1:])
                notes = {"scale": "real", "init": z.init, "samples": REAL_SAMPLES, "labelled": False,
                         "source": "pytorch" if z.torch else "onnx", "input": f"{z.kind} {shape}"}
                print(f"[{time.time() - t0:6.0f}s] {z.name}: {notes}", flush=True)
                with problem_from_parts(model, data, settings=settings, workdir=work / f"{z.name}-p",
                                        owns_workdir=True) as prob:
                    strategies = PRETRAINED_STRATEGIES if z.init.startswith("pretrained") else REAL_STRATEGIES
                    _measure(prob, f"real:{z.name}", strategies, facts, profile, z.family, notes, records, ctx, t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write(records, a.out)
    print(f"{len(records)} records in {time.time() - t0:.0f} s -> {a.out}")
    return 0


def _write(records: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    tmp.replace(out)


if __name__ == "__main__":
    raise SystemExit(main())
