"""Arrow arrays straight from numpy buffers.

``pyarrow.array`` on a numpy array asks pandas whether the array is one of its own, and so
imports pandas: about 0.4 s of every command that writes Parquet, a fifth of a sparse-panel
``count`` (``benchmarks/README.md``, issue 17).  These helpers build the same arrays from
the buffers, without that check.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

_NUMPY = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
          pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
          pa.float32(): np.float32, pa.float64(): np.float64}


def numeric(values, type_: pa.DataType) -> pa.Array:
    """A non-null Arrow array of ``type_`` (an integer or float type, or bool) with ``values``."""
    if type_ == pa.bool_():
        v = np.asarray(values, dtype=bool)
        return pa.Array.from_buffers(type_, len(v), [None, pa.py_buffer(np.packbits(v, bitorder="little"))])
    v = np.ascontiguousarray(values, dtype=_NUMPY[type_])
    return pa.Array.from_buffers(type_, len(v), [None, pa.py_buffer(v)])


def strings(words) -> pa.StringArray:
    """A non-null string array of the Python strings ``words``."""
    encoded = [w.encode() for w in words]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def letters(codes, alphabet: str) -> pa.StringArray:
    """One-character strings ``alphabet[code]`` for integer ``codes``."""
    codes = np.asarray(codes)
    data = np.frombuffer(alphabet.encode("ascii"), np.uint8)[codes]
    offsets = np.arange(len(codes) + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(len(codes), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)))


def dictionary(indices, words, index_type: pa.DataType | None = None) -> pa.DictionaryArray:
    """A dictionary-encoded string array ``words[indices]`` (indices of ``index_type``, default int32)."""
    return pa.DictionaryArray.from_arrays(numeric(indices, index_type or pa.int32()), strings(words))
