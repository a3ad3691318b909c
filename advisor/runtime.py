"""onnxruntime sessions configured the same way everywhere: explicit threads, spinning, sequential.

Kept free of heavy imports (no torch) so the memory probe can use it in a fresh process.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

__all__ = ["make_session"]


def make_session(path: Path | str, threads: int = 1, spinning: bool = False,
                 profile_prefix: str | None = None) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads; spinning off unless asked (busy hosts);
    with ``profile_prefix``, onnxruntime's per-node profiler on, writing its trace there."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
