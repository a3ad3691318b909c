"""Property tests: the profile and budget loaders, over thousands of generated documents, only
ever return a valid object or raise their own clean error -- never a traceback of another kind."""

from __future__ import annotations

import copy
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.budget import Budget
from advisor.errors import BudgetError, ProfileError
from advisor.profiling import DeviceProfile, dump_profile, parse_profile
from tests.profiling.synthetic import make_profile

SETTINGS = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["low", "mid", "high", "latency", "size", "accuracy", "1e999", "NaN", "-0", ""]),
)
values = st.recursive(
    scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=10), c, max_size=4)),
    max_leaves=10)
budget_keys = st.sampled_from(["max_accuracy_drop", "max_size_kb", "max_size_ratio", "max_latency_ms",
                               "max_latency_ratio", "max_compress_seconds", "objective", "tier", "speed", ""])


@pytest.mark.slow
@SETTINGS
@given(st.one_of(values, st.dictionaries(budget_keys, values, max_size=6)))
def test_budget_from_any_document(doc):
    try:
        b = Budget.from_dict(doc)
    except BudgetError as e:
        assert str(e) and "\n" not in str(e)
        return
    for _k, v in b.to_dict().items():
        if isinstance(v, float):
            assert math.isfinite(v)


@SETTINGS
@given(st.text(max_size=300))
def test_budget_from_any_yaml_text(text):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    try:
        Budget.from_dict(doc)
    except BudgetError as e:
        assert str(e) and "\n" not in str(e)


def _valid_profile_dict() -> dict:
    # A synthetic profile: every field a measured one has, and nothing is timed
    # at import (collection) time. A real profile's round trip is tested in tests/profiling.
    return yaml.safe_load(dump_profile(make_profile("prop-test")))


VALID = _valid_profile_dict()


def _paths(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))


PATHS = list(_paths(VALID))


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), values, st.booleans())
def test_profile_with_one_field_replaced_or_removed(path, value, remove):
    doc = copy.deepcopy(VALID)
    node = doc
    for k in path[:-1]:
        node = node[k]
    if remove:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    try:
        p = parse_profile(text)
    except ProfileError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(p, DeviceProfile)
    assert parse_profile(dump_profile(p)) == p  # whatever loads, round-trips


@SETTINGS
@given(st.text(max_size=400))
def test_profile_from_any_text(text):
    try:
        p = parse_profile(text)
    except ProfileError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert parse_profile(dump_profile(p)) == p
