"""Fixtures for search tests: a tiny real problem (the PostgreSQL server: tests/pg.py)."""

from __future__ import annotations

import pytest

from advisor.problem import open_problem
from tests.conftest import FAST


@pytest.fixture
def tiny_problem(tiny_onnx, tiny_npz):
    with open_problem(str(tiny_onnx), str(tiny_npz), settings=FAST) as p:
        yield p
