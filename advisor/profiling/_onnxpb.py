"""The few ONNX protobuf messages the micro-benchmark graphs need, written as bytes directly.

``advisor profile`` builds ~70 small graphs and hands them to onnxruntime; the ``onnx`` package
would cost more than a second to import on the build VM (mostly its ``ml_dtypes`` dependency)
and half a second to build the graphs through ``onnx.helper``. These functions write the same
wire format (``onnx.proto``, proto2: repeated scalars unpacked, as ``onnx`` writes them) for the
subset used here: nodes with int / float / int-list / float-list attributes, initializers as raw
little-endian data, tensor inputs and outputs with fixed or named dimensions. Each returns the
serialized message; tests check every one against ``onnx.helper`` and ``onnx.checker``.

Example:
    >>> x = value_info("x", FLOAT, [16])
    >>> m = model([node("Relu", ["x"], ["y"])], [x], [value_info("y", FLOAT, [16])], [], opset=17)
    >>> m[:2]  # field 1 (ir_version), varint
    b'\\x08\\x08'
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

__all__ = ["FLOAT", "UINT8", "INT8", "INT32", "INT64", "FLOAT16", "node", "tensor", "value_info", "model"]

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64, FLOAT16 = 1, 2, 3, 6, 7, 10
_DTYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UINT8, np.dtype(np.int8): INT8,
           np.dtype(np.int32): INT32, np.dtype(np.int64): INT64, np.dtype(np.float16): FLOAT16}
# AttributeProto.AttributeType
_A_FLOAT, _A_INT, _A_FLOATS, _A_INTS = 1, 2, 6, 7


@lru_cache(maxsize=4096)  # field keys and small lengths, over and over
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative int64: two's complement, 10 bytes (as protobuf writes it)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(int(v))


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _head(field: int, size: int) -> bytes:
    """The key and length of a length-delimited field whose ``size`` bytes follow as other pieces
    (large tensors are joined once, at the end, instead of copied into every enclosing message)."""
    return _varint(field << 3 | 2) + _varint(size)


def _str(field: int, s: str) -> bytes:
    return _bytes(field, s.encode("utf-8"))


def _float(field: int, v: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", float(v))


def _attribute(name: str, value) -> bytes:
    """An attribute typed as ``onnx.helper.make_attribute`` types it (int, float, or a list of one)."""
    out = _str(1, name)
    if isinstance(value, (bool, int, np.integer)):
        return out + _int(3, value) + _int(20, _A_INT)
    if isinstance(value, (float, np.floating)):
        return out + _float(2, value) + _int(20, _A_FLOAT)
    values = list(value)
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return out + b"".join(_int(8, v) for v in values) + _int(20, _A_INTS)
    if values and all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return out + b"".join(_float(7, v) for v in values) + _int(20, _A_FLOATS)
    raise TypeError(f"attribute '{name}' must be an int, a float or a non-empty list of them, got {value!r}")


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str | None = None, **attrs) -> bytes:
    """A ``NodeProto`` (default domain); attributes sorted by name, as ``onnx.helper.make_node`` does."""
    out = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    if name:
        out += _str(3, name)
    out += _str(4, op_type)
    return out + b"".join(_bytes(5, _attribute(k, attrs[k])) for k in sorted(attrs))


def tensor(array: np.ndarray, name: str) -> bytes:
    """A ``TensorProto`` holding ``array`` as raw little-endian data (what ``numpy_helper.from_array`` writes)."""
    a = np.asarray(array)
    if a.dtype not in _DTYPES:
        raise TypeError(f"tensor '{name}' has dtype {a.dtype}, not one of {sorted(map(str, _DTYPES))}")
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
    return b"".join([*(_int(1, d) for d in a.shape), _int(2, _DTYPES[a.dtype]), _str(8, name), _head(9, len(data)),
                     data])


def value_info(name: str, elem_type: int, shape: Iterable[int | str]) -> bytes:
    """A tensor ``ValueInfoProto``: element type and dimensions (an int is a size, a str a named dimension)."""
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, (int, np.integer)) else _str(2, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes: Sequence[bytes], inputs: Sequence[bytes], outputs: Sequence[bytes], initializers: Sequence[bytes],
          *, opset: int, ir_version: int = 8, graph_name: str = "bench", producer: str = "advisor-profile") -> bytes:
    """A serialized ``ModelProto`` of one graph in the default domain at ``opset``."""
    graph: list[bytes] = []
    for field, items in ((1, nodes), (2, None), (5, initializers), (11, inputs), (12, outputs)):
        if items is None:
            graph.append(_str(2, graph_name))
            continue
        for m in items:
            graph += [_head(field, len(m)), m]
    size = sum(map(len, graph))
    return b"".join([_int(1, ir_version), _str(2, producer), _head(7, size), *graph,
                     _bytes(8, _str(1, "") + _int(2, opset))])
