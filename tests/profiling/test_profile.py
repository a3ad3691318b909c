"""The profile schema: round trips, and malformed or hostile documents rejected naming the field."""

from __future__ import annotations

import copy

import pytest
import yaml

from advisor.errors import ProfileError
from advisor.profiling import SCHEMA_VERSION, DeviceProfile, dump_profile, load_profile, parse_profile, save_profile


def test_round_trip_through_yaml(profile, tmp_path):
    text = dump_profile(profile)
    assert text.startswith("# Compression Advisor device profile")
    assert parse_profile(text) == profile
    path = save_profile(profile, tmp_path)
    assert path.name == "synthetic.yaml"
    again = load_profile(path)
    assert again == profile
    assert again.to_dict() == profile.to_dict()
    assert dump_profile(again) == text


def test_saved_file_is_plain_yaml(profile, tmp_path):
    path = save_profile(profile, tmp_path)
    doc = yaml.safe_load(path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 3
    assert doc["figures"]["conv"]["fp32_gflops_1t"] > 0
    assert "!!python" not in path.read_text()


def test_save_is_atomic_and_leaves_no_temp_files(profile, tmp_path):
    save_profile(profile, tmp_path)
    save_profile(profile, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.yaml"]


def _set(doc: dict, dotted: str, value) -> dict:
    d = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = d
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return d


_DELETE = object()


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("figures.gemm.fp32_gflops_1t", "fast",
         "profile field 'figures.gemm.fp32_gflops_1t' must be a positive number"),
        ("figures.gemm.fp32_gflops_1t", -3.0, "figures.gemm.fp32_gflops_1t"),
        ("figures.gemm.fp32_gflops_1t", 0, "figures.gemm.fp32_gflops_1t"),
        ("figures.gemm.fp32_gflops_1t", True, "figures.gemm.fp32_gflops_1t"),
        ("figures.conv.int8_gops_all", float("nan"), "figures.conv.int8_gops_all"),
        ("figures.conv.int8_gops_all", float("inf"), "figures.conv.int8_gops_all"),
        ("figures.memory.bandwidth_gbs_1t", 10**400, "figures.memory.bandwidth_gbs_1t"),
        ("figures.memory.bandwidth_gbs_1t", 1e300, "figures.memory.bandwidth_gbs_1t"),
        ("figures.overhead.node_us_1t", _DELETE, "profile field 'figures.overhead.node_us_1t' is missing"),
        ("figures.overhead.spare", 1.0, "profile field 'figures.overhead.spare' is not part of the schema"),
        ("host.cores_logical", 2.5, "host.cores_logical"),
        ("host.cores_logical", 0, "host.cores_logical"),
        ("host.cores_logical", "4", "host.cores_logical"),
        ("host.isa", "avx2", "host.isa"),
        ("host.isa", ["avx2", "AVX 512!"], "host.isa[1]"),
        ("host.cpu", "x" * 500, "host.cpu"),
        ("host.cpu", "bad\x00char", "host.cpu"),
        ("host", ["not", "a", "mapping"], "profile field 'host' must be a mapping"),
        ("run.quick", "yes", "run.quick"),
        ("run.steal_percent", 150.0, "run.steal_percent"),
        ("run.threads_all", 64, "run.threads_all"),
        ("run.rounds", 0, "run.rounds"),
        ("run.disturbed_blocks", -1, "run.disturbed_blocks"),
        ("run.retimed_blocks", 1.5, "run.retimed_blocks"),
        ("run.unsettled_benchmarks", _DELETE, "profile field 'run.unsettled_benchmarks' is missing"),
        ("benchmarks.conv_fp32_c32s32.us_1t", "slow", "benchmarks.conv_fp32_c32s32.us_1t"),
        ("benchmarks.conv_fp32_c32s32", _DELETE, "benchmarks.conv_fp32_c32s32"),
        ("benchmarks.my_own_bench", {"us_1t": 1.0, "us_all": 1.0}, "benchmarks.my_own_bench"),
        ("derived.int8_speedup", 9.5, "derived.int8_speedup"),
        ("derived.suggested_threads", 2, "derived.suggested_threads"),
        ("created", "yesterday", "created"),
        ("name", "../../etc/passwd", "name"),
        ("name", "a/b", "name"),
        ("schema_version", 4, "schema_version' is 4"),
        ("schema_version", "1", "schema_version"),
        ("schema_version", _DELETE, "schema_version' is missing"),
        ("extra_section", {}, "profile field 'extra_section' is not part of the schema"),
    ],
)
def test_malformed_profiles_are_rejected_naming_the_field(profile_doc, field, value, expect):
    doc = _set(profile_doc, field, value)
    with pytest.raises(ProfileError) as e:
        DeviceProfile.from_dict(doc)
    msg = str(e.value)
    assert expect in msg
    assert "\n" not in msg


def test_the_example_message_of_the_brief(profile_doc):
    doc = _set(profile_doc, "figures.gemm.fp32_gflops_1t", "fast")
    with pytest.raises(ProfileError, match=r"^profile field 'figures.gemm.fp32_gflops_1t' must be a positive number"
                                           r".*got 'fast'$"):
        DeviceProfile.from_dict(doc)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("- just\n- a list\n", "must be a mapping"),
        ("42\n", "must be a mapping"),
        ("", "must be a mapping"),
        ("schema_version: 1\nname: !!python/object/apply:os.system ['echo pwned']\n", "not a valid profile YAML"),
        ("!!python/object:advisor.profiling.DeviceProfile {}\n", "not a valid profile YAML"),
        ("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", "anchors or aliases"),
        ("schema_version: 1\nname: [unclosed\n", "not a valid profile YAML"),
        ("schema_version: .nan\n", "schema_version"),
        ("schema_version: 1e999\n", "schema_version"),
    ],
)
def test_hostile_or_broken_yaml_is_rejected(text, expect):
    with pytest.raises(ProfileError) as e:
        parse_profile(text, "profile file x.yaml")
    assert expect in str(e.value)


def test_billion_laughs_is_refused_before_expansion():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(ProfileError, match="anchors or aliases"):
        parse_profile("\n".join(lines) + "\n")


def test_nan_in_a_figure_from_yaml_text(profile):
    text = dump_profile(profile).replace(f"fp32_gflops_1t: {profile.figures.gemm.fp32_gflops_1t}",
                                         "fp32_gflops_1t: .nan", 1)
    with pytest.raises(ProfileError, match="figures.gemm.fp32_gflops_1t"):
        parse_profile(text)


def test_huge_file_is_refused_without_parsing(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("x: " + "9" * 300_000 + "\n")
    with pytest.raises(ProfileError, match="larger than"):
        load_profile(p)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.yaml")
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match="cannot be read|not a valid"):
        load_profile(p)


def test_errors_from_files_name_the_file(profile_doc, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(_set(profile_doc, "run.quick", "maybe")))
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert "bad.yaml" in str(e.value) and "run.quick" in str(e.value)


def test_key_figures_for_the_advice(profile):
    k = profile.key_figures()
    for key in ("profile", "cpu", "cores_logical", "conv_fp32_gflops", "gemm_fp32_gflops", "int8_speedup",
                "fp16_speedup", "suggested_threads", "suggested_spinning", "energy_sensor"):
        assert key in k
    assert k["profile"] == "synthetic"
    assert k["energy_sensor"] == "none"


def test_measure_settings_follow_the_suggestion(profile):
    from advisor.measure import MeasureSettings

    s = profile.measure_settings()
    assert isinstance(s, MeasureSettings)
    assert s.threads == profile.derived.suggested_threads
    assert s.spinning == profile.derived.suggested_spinning


def test_schema_round_trips_with_spreads_and_new_groups(profile):
    from dataclasses import replace
    from types import MappingProxyType

    from advisor.profiling import BenchTimes

    times = {k: BenchTimes(t.us_1t, t.us_all, 0.031, 0.052) for k, t in profile.benchmarks.items()}
    p = replace(profile, benchmarks=MappingProxyType(times))
    back = parse_profile(dump_profile(p))
    assert back == p
    assert back.figure_spread("conv.fp32_gflops_1t") == pytest.approx(0.031)
    assert back.figure_spread("gemm.int8_gops_all") == pytest.approx(0.052)
    assert set(back.to_dict()["figures"]) == {"gemm", "conv", "pointwise", "depthwise", "transformer", "memory",
                                              "overhead", "scaling"}


def test_a_version_1_profile_fails_with_one_line_naming_the_version(profile_doc):
    """Schema 1 files (no real-shaped kernels) cannot be migrated: the predictor is calibrated
    on kernels they never measured. They fail with one line that says so."""
    old = {**profile_doc, "schema_version": 1}
    old["benchmarks"] = {k: {"us_1t": v["us_1t"], "us_all": v["us_all"]} for k, v in old["benchmarks"].items()}
    with pytest.raises(ProfileError) as e:
        DeviceProfile.from_dict(old)
    msg = str(e.value)
    assert "\n" not in msg
    assert "schema_version 1" in msg and "advisor profile" in msg and str(SCHEMA_VERSION) in msg


def test_a_version_1_file_on_disk_is_listed_with_that_error(tmp_path):
    from advisor.profiling import ProfileStore

    (tmp_path / "old.yaml").write_text("schema_version: 1\nname: old\n")
    (entry,) = ProfileStore(tmp_path).entries()
    assert entry.profile is None and "schema_version 1 is older" in entry.error


def _as_schema_2(doc: dict) -> dict:
    """A schema-2 document: the same, without the run's timing record (what schema 3 added)."""
    old = copy.deepcopy({**doc, "schema_version": 2})
    for k in ("rounds", "disturbed_blocks", "retimed_blocks", "unsettled_benchmarks"):
        del old["run"][k]
    return old


def test_a_version_2_profile_loads_as_it_is_and_stays_version_2(profile_doc, tmp_path):
    """Schema 3 only adds the run's timing record: a schema-2 file loads with those unknown (None),
    and is written back as schema 2 (nothing made up)."""
    old = _as_schema_2(profile_doc)
    p = DeviceProfile.from_dict(old)
    assert p.schema_version == 2 and p.run.rounds is None and p.run.disturbed_blocks is None
    assert p.to_dict() == old
    assert dump_profile(p).startswith("# Compression Advisor device profile (schema_version 2)")
    assert p.facts() == DeviceProfile.from_dict(profile_doc).facts()
    with pytest.raises(ProfileError, match="'run.rounds' is not part of the schema"):
        DeviceProfile.from_dict({**old, "run": {**old["run"], "rounds": 6}})


def test_the_shipped_profiles_load():
    from pathlib import Path

    from advisor.profiling import ProfileStore

    entries = ProfileStore(Path(__file__).resolve().parents[2] / "profiles").entries()
    assert entries and all(e.profile is not None for e in entries), [e.error for e in entries]


def test_a_version_3_profile_must_record_its_timing(profile):
    from dataclasses import replace

    with pytest.raises(ValueError, match="run.rounds is None"):
        replace(profile, run=replace(profile.run, rounds=None))


def test_headline_figures_are_what_the_advice_reads(profile):
    """1-thread figures always, all-core ones only when the profile suggests all cores; the
    speed-ups at each; never the scaling ratios."""
    from dataclasses import replace

    from advisor.profiling._profile import speedups

    one = replace(profile, derived=replace(profile.derived, suggested_threads=1))
    h = one.headline_figures()
    assert "conv.fp32_gflops_1t" in h and "memory.bandwidth_gbs_1t" in h and "overhead.node_us_1t" in h
    assert not any(k.endswith("_all") or k.startswith("scaling.") for k in h)
    assert len(h) == 21 + 4
    assert h["derived.int8_speedup_1t"] == speedups(profile.figures, "1t")["int8_speedup"]
    assert one.derived.int8_speedup == h["derived.int8_speedup_1t"] or profile.derived.suggested_threads != 1
    every = replace(profile, derived=replace(profile.derived, suggested_threads=profile.threads_all))
    assert len(every.headline_figures()) == 2 * (21 + 4)
    assert every.headline_figures()["derived.fp16_speedup_all"] == speedups(profile.figures, "all")["fp16_speedup"]
    assert {k for k in every.headline_figures() if k.endswith("_all")} == {k.replace("_1t", "_all") for k in h
                                                                           if k.endswith("_1t")}


def test_scaling_spread_comes_from_both_settings(profile):
    from dataclasses import replace
    from types import MappingProxyType

    from advisor.profiling import BenchTimes

    times = {k: BenchTimes(t.us_1t, t.us_all, 0.03, 0.04) for k, t in profile.benchmarks.items()}
    p = replace(profile, benchmarks=MappingProxyType(times))
    assert p.figure_spread("scaling.conv") == pytest.approx(0.05)
    assert p.figure_spread("scaling.gelu") == pytest.approx(0.05)
    assert p.figure_spread("scaling.nothing") == 0.0
