"""Reading the variables of a CTranslate2 `model.bin`, for kernels that run outside CTranslate2.

The format is the one `ctranslate2.specs.ModelSpec._serialize` writes (binary version 6): a header
(version, spec name, spec revision), then each variable as name, rank, dimensions, data type id,
byte count and raw little-endian data, then the aliases (one variable stored under two names, such
as Whisper's decoder projection, tied to the token embeddings). Strings are a uint16 length that
counts a trailing NUL byte, then the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ModelWeights", "read_model_bin"]

# The order of ctranslate2.specs.model_spec._dtype_to_type_id (include/ctranslate2/types.h).
_DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    # 5 is bfloat16, which numpy has no type for; see `_read`.
}
_BFLOAT16 = 5
_BINARY_VERSION = 6  # what ctranslate2 4.x writes; other versions lay variables out differently


@dataclass(frozen=True)
class ModelWeights:
    """A model's variables by name (aliases resolved), as stored."""

    spec: str
    revision: int
    variables: dict[str, npt.NDArray[np.generic]]

    def float32(self, name: str) -> npt.NDArray[np.float32]:
        """A variable as float32, dequantized when the file stores int8 weights with their scales."""
        value = self.variables[name]
        if value.dtype == np.int8:
            scale = self.variables.get(f"{name}_scale")
            if scale is None:
                raise ValueError(f"model.bin: {name} is int8 without {name}_scale")
            return (value.astype(np.float32) / scale.astype(np.float32).reshape(-1, 1)).astype(np.float32)
        return np.asarray(value, dtype=np.float32)


def read_model_bin(path: Path) -> ModelWeights:
    """Read every variable of a CTranslate2 `model.bin`. Raises ValueError on a malformed file."""
    data = path.read_bytes()
    try:
        return _read(data)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"model.bin: {path} is truncated or not a CTranslate2 model ({exc})") from exc


def _read(data: bytes) -> ModelWeights:
    offset = 0

    def unpack(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return int(value)

    def string() -> str:
        nonlocal offset
        length = unpack("<H")
        text = data[offset : offset + length - 1].decode("utf-8")
        offset += length
        return text

    version = unpack("<I")
    if version != _BINARY_VERSION:
        raise ValueError(
            f"model.bin: binary version {version}, expected {_BINARY_VERSION}; reconvert the model with ctranslate2 4.x"
        )
    spec = string()
    revision = unpack("<I")
    variables: dict[str, npt.NDArray[np.generic]] = {}
    for _ in range(unpack("<I")):
        name = string()
        shape = tuple(unpack("<I") for _ in range(unpack("<B")))
        type_id = unpack("<B")
        num_bytes = unpack("<I")
        if offset + num_bytes > len(data):
            raise IndexError(f"variable {name} needs {num_bytes} bytes, {len(data) - offset} left")
        raw = data[offset : offset + num_bytes]
        offset += num_bytes
        if type_id == _BFLOAT16:  # the upper half of a float32
            value = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif type_id in _DTYPES:
            value = np.frombuffer(raw, dtype=_DTYPES[type_id])
        else:
            raise ValueError(f"model.bin: variable {name} has unknown data type id {type_id}")
        variables[name] = value.reshape(shape)
    for _ in range(unpack("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    if offset != len(data):
        raise ValueError(f"model.bin: {len(data) - offset} unread bytes after the aliases")
    return ModelWeights(spec=spec, revision=revision, variables=variables)
