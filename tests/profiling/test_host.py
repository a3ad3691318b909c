"""Host probes: the ISA vocabulary and a real probe of this machine."""

from __future__ import annotations

from advisor.profiling import HostInfo, probe_host
from advisor.profiling._host import isa_features


def test_x86_flags_map_to_the_vocabulary():
    flags = {"fpu", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8",
             "amx_bf16", "avx512_fp16", "hypervisor"}
    isa = isa_features(flags)
    assert {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "f16c", "avx512_fp16"} <= set(isa)
    assert "fpu" not in isa and "hypervisor" not in isa


def test_arm_features_map_to_the_vocabulary():
    isa = isa_features({"fp", "asimd", "asimddp", "fphp", "asimdhp", "i8mm", "crc32"})
    assert set(isa) == {"neon", "asimddp", "fphp", "asimdhp", "i8mm"}


def test_probe_of_this_host_is_a_valid_host_section(tmp_path):
    doc = probe_host(tmp_path)
    host = HostInfo.from_dict(doc)
    assert host.cores_logical >= 1 and host.cores_physical >= 1
    assert host.memory_total_bytes >= host.memory_available_bytes > 0
    assert host.disk_free_bytes > 0
    assert "CPUExecutionProvider" in host.providers
    assert host.energy_sensor == "none" or host.energy_sensor.startswith("rapl:")
    assert host.cpu


def test_channel_block_follows_the_isa():
    base = {"cpu": "c", "arch": "x86_64", "os": "o", "cores_logical": 2, "cores_physical": 2, "isa": [],
            "memory_total_bytes": 1, "memory_available_bytes": 1, "disk_free_bytes": 1, "onnxruntime": "1",
            "providers": [], "energy_sensor": "none"}
    assert HostInfo.from_dict({**base, "isa": ["avx2", "avx512f"]}).channel_block == 16
    assert HostInfo.from_dict({**base, "isa": ["avx2"]}).channel_block == 8
    assert HostInfo.from_dict({**base, "arch": "aarch64", "isa": ["neon", "asimddp"]}).channel_block == 1
