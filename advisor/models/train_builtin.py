"""Reproduce the shipped weights of the built-in models.

    python -m advisor.models.train_builtin digits-cnn

Deterministic: fixed seed, fixed thread count, deterministic algorithms; on this project's build
machine it reproduces ``weights/digits-cnn.pt`` (its figures: docs/techniques/NQ.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
from pathlib import Path

import torch

from advisor.data import load_data
from advisor.models import BUILTIN_MODELS, load_model
from advisor.models._builtin import WEIGHTS_DIR
from advisor.progress import RunContext
from advisor.training import evaluate_accuracy, fit
from advisor.types import TensorSpec

RECIPES = {"digits-cnn": {"epochs": 30, "lr": 2e-3, "seed": 0}}


def train(name: str, out: Path) -> float:
    b = BUILTIN_MODELS[name]
    recipe = RECIPES[name]
    torch.manual_seed(recipe["seed"])
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    module = b.build()
    data = load_data(b.data, (TensorSpec("input", (None, *b.input_shape), "float32"),))
    ctx = RunContext(
        progress=lambda e: print(f"\r{e.stage}: {e.message}", end="", file=sys.stderr),
        torch_threads=2,
        seed=recipe["seed"],
    )
    fit(module, data.train, epochs=recipe["epochs"], lr=recipe["lr"], ctx=ctx, stage=name, weight_decay=5e-4)
    print(file=sys.stderr)
    acc = evaluate_accuracy(module, data.test)
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    print(f"{name}: test accuracy {acc:.4f}, sha256 {hashlib.sha256(buf.getvalue()).hexdigest()[:16]}, {out}")
    return acc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(RECIPES))
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    out = a.out or WEIGHTS_DIR / BUILTIN_MODELS[a.name].weights
    acc = train(a.name, out)
    # Confirm the file loads the way users load it.

    load_model(f"builtin:{a.name}", workdir=Path(tempfile.mkdtemp()))
    return 0 if acc >= 0.97 else 1


if __name__ == "__main__":
    raise SystemExit(main())
