"""Regenerate the seed knowledge base the ranker ships with.

    flock /tmp/advisor-cpu.lock .venv/bin/python benchmarks/seed_kb.py

Runs every search strategy (at its defaults) on the six-family, three-size model zoo of
``kb_zoo.py``, measures each on this machine at 1 thread and at all cores (interleaved with the
original), and writes one record per (model, strategy, thread count) to
``advisor/ranking/data/seed_kb.jsonl.gz``. About half an hour on the 2-core build machine.
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
from advisor.search import SEARCH_STRATEGIES, applicable_strategies  # noqa: E402
from benchmarks.kb_zoo import iter_zoo, trained  # noqa: E402


def device_profile():
    from advisor.profiling import profile_device

    return profile_device()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=SEED_PATH)
    p.add_argument("--families", nargs="*", help="only these families (default: all)")
    p.add_argument("--strategies", nargs="*", default=list(SEARCH_STRATEGIES))
    p.add_argument("--seconds", type=float, default=0.3, help="timed seconds per model per thread setting")
    a = p.parse_args(argv)
    profile = device_profile()
    facts = profile.key_figures()
    settings = MeasureSettings(threads=1, all_threads=2, seconds=a.seconds, memory=False)
    records: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="seed-kb-"))
    t0 = time.time()
    ctx = RunContext(torch_threads=2)
    try:
        for z in iter_zoo(set(a.families) if a.families else None):
            model, data, acc = trained(z, work, ctx)
            print(f"[{time.time() - t0:6.0f}s] {z.name}: test accuracy {acc:.3f}", flush=True)
            with problem_from_parts(model, data, settings=settings, workdir=work / f"{z.name}-p", owns_workdir=True) as prob:
                ok, excluded = applicable_strategies(prob, a.strategies)
                for name in ok:
                    try:
                        result, m = prob.evaluate(name, {}, ctx=ctx)
                    except AdvisorError as e:
                        print(f"    {name}: failed: {e}", flush=True)
                        continue
                    for all_threads in (False, True):
                        records.append(record_trial(prob, strategy=name, params=result.params, train_scale=1.0,
                                                    measurement=m, facts=facts, family=z.family,
                                                    all_threads=all_threads, model_path=result.model.onnx_path,
                                                    profile=profile))
                    print(f"    {name}: {100 * m.quality:.1f}% size x{prob.baseline.size_bytes / m.size_bytes:.1f} "
                          f"p50 x{1 / m.extra['latency_ratio']:.2f} {m.compress_seconds:.1f}s", flush=True)
                for name, why in excluded.items():
                    print(f"    {name}: not applicable: {why}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    tmp.replace(a.out)
    print(f"{len(records)} records in {time.time() - t0:.0f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
