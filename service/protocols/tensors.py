"""Tensors as the Open Inference Protocol sends them: JSON (flat or nested `data`) or the
binary tensor data extension, turned into the data plane's observations and back.
"""

from __future__ import annotations

import math

import numpy as np

from service.errors import InvalidRequest
from service.http import parse_json

# Datatypes the protocol names, as numpy dtypes (little-endian, as the binary extension is).
DATATYPES = {
    "BOOL": np.dtype("bool"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
DATATYPE_NAMES = {dtype: name for name, dtype in DATATYPES.items()}
INTEGER_TYPES = ("INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8")
FLOAT_TYPES = ("FP32", "FP64", "FP16")
BINARY_HEADER = "Inference-Header-Content-Length"


def flatten(data) -> list:
    """Returns the leaves of nested lists, in row-major order."""
    if not isinstance(data, list):
        return [data]
    if all(not isinstance(item, list) for item in data):
        return data
    out = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def nested_as(data, shape: list[int]) -> bool:
    """Returns True if nested lists `data` have exactly the dimensions `shape`."""
    level = [data]
    for dimension in shape:
        if not all(isinstance(item, list) and len(item) == dimension for item in level):
            return False
        level = [child for item in level for child in item]
    return all(not isinstance(item, list) for item in level)


def tensor_array(name: str, datatype: str, shape: list[int], data=None, raw: bytes | None = None) -> np.ndarray:
    """Returns the tensor as an array of its shape, from JSON `data` or binary `raw`."""
    if datatype not in DATATYPES or datatype == "BYTES":
        raise InvalidRequest(f"input {name[:40]!r}: datatype {str(datatype)[:20]!r} is not supported here; use "
                             f"{'/'.join(INTEGER_TYPES[:2])} for discrete observations or FP32/FP64 for Box ones")
    if not isinstance(shape, list) or not shape or len(shape) > 8 or any(type(d) is not int or d < 0 for d in shape):
        raise InvalidRequest(f"input {name[:40]!r}: shape must be a list of at most 8 non-negative integers, "
                             f"got {str(shape)[:60]}")
    count = math.prod(shape)
    dtype = DATATYPES[datatype]
    if raw is not None:
        if len(raw) != count * dtype.itemsize:
            raise InvalidRequest(f"input {name[:40]!r}: {len(raw)} binary bytes for shape {shape} of {datatype}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    leaves = flatten(data)
    if len(leaves) != count:
        raise InvalidRequest(f"input {name[:40]!r}: {len(leaves)} values for shape {shape} ({count} expected)")
    if isinstance(data, list) and any(isinstance(item, list) for item in data) and not nested_as(data, shape):
        raise InvalidRequest(f"input {name[:40]!r}: data must be flat or nested exactly as shape {shape}")
    integral = datatype in INTEGER_TYPES
    for value in leaves:
        # JSON true/false are not numbers, and a fraction is not an integer.
        if type(value) is bool or not isinstance(value, (int, float)) or (integral and type(value) is not int):
            raise InvalidRequest(f"input {name[:40]!r}: {datatype} data must be {'integers' if integral else 'numbers'},"
                                 f" got {str(value)[:40]!r}")
    try:
        array = np.asarray(leaves, dtype=np.int64 if integral else np.float64).reshape(shape)
    except OverflowError:
        raise InvalidRequest(f"input {name[:40]!r}: a value does not fit {datatype}") from None
    if not integral and array.size:
        with np.errstate(over="ignore"):  # an overflow is what this looks for
            fits = np.all(np.isfinite(array.astype(dtype)))
        if not fits:
            raise InvalidRequest(f"input {name[:40]!r}: a value does not fit {datatype}")
    return array


def split_binary_body(raw: bytes, header_length: str, max_values: int) -> tuple[dict, bytes]:
    """Returns (JSON header, the binary part) of a body sent with the binary extension."""
    if (not header_length.isascii() or not header_length.isdigit() or len(header_length) > 12
            or int(header_length) > len(raw)):
        raise InvalidRequest(f"{BINARY_HEADER}: {header_length[:20]!r} is not a length within the body")
    length = int(header_length)
    return parse_json(raw[:length], max_values), raw[length:]


def encode_output(name: str, array: np.ndarray, datatype: str, binary: bool) -> tuple[dict, bytes]:
    """Returns (the output's JSON, its binary bytes if sent binary)."""
    tensor = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if binary:
        data = np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()
        tensor["parameters"] = {"binary_data_size": len(data)}
        return tensor, data
    tensor["data"] = array.reshape(-1).tolist()
    return tensor, b""
