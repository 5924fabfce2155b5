"""Reading the variables of a CTranslate2 `model.bin`, for kernels that run outside CTranslate2.

The format is the one `ctranslate2.specs.ModelSpec._serialize` writes (binary version 6): a header
(version, spec name, spec revision), then each variable as name, rank, dimensions, data type id,
byte count and raw little-endian data, then the aliases (one variable stored under two names, such
as Whisper's decoder projection, tied to the token embeddings). Strings are a uint16 length that
counts a trailing NUL byte, then the bytes.

`encoder_only_model_bin` writes the same model with its decoder cut to one layer and a one-row
vocabulary, for a CTranslate2 instance that only ever runs the encoder (the onnxruntime decoder does
the rest): the tied 51,864-row embedding is tiny.en's largest tensor, about 20 MB once CTranslate2
holds it in int8, and the three later decoder layers about 7 MB more.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ModelWeights", "decode_values", "encoder_only_model_bin", "read_model_bin", "write_model_bin",
]

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
# The decoder's vocabulary-sized variables (the projection is usually an alias of the embeddings).
_VOCABULARY_VARIABLES = ("decoder/embeddings/weight", "decoder/projection/weight")
_LATER_DECODER_LAYER = re.compile(r"decoder/layer_[1-9][0-9]*/")


@dataclass(frozen=True)
class ModelWeights:
    """A model's variables by name (aliases resolved), as stored."""

    spec: str
    revision: int
    variables: dict[str, npt.NDArray[np.generic]]
    # where each variable's data starts in the file, its data type id (see `decode_values`) and its bytes
    locations: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def float32(self, name: str) -> npt.NDArray[np.float32]:
        """A variable as float32, dequantized when the file stores it quantized with its scales."""
        value = self.variables[name]
        scale = self.scale(name)
        if scale is not None:
            return (value.astype(np.float32) / scale.reshape(-1, 1)).astype(np.float32)
        return np.asarray(value, dtype=np.float32)

    def scale(self, name: str) -> npt.NDArray[np.float32] | None:
        """The quantization scale of a variable stored as integers (`value / scale` is the weight).

        CTranslate2 stores int8 weights with one scale per row and int16 weights with one scale for
        the whole tensor; None for a variable stored as floats.
        """
        if self.variables[name].dtype not in (np.int8, np.int16):
            return None
        scale = self.variables.get(f"{name}_scale")
        if scale is None:
            raise ValueError(f"model.bin: {name} is {self.variables[name].dtype} without {name}_scale")
        return np.asarray(scale, dtype=np.float32).reshape(-1)


def read_model_bin(path: Path) -> ModelWeights:
    """Read every variable of a CTranslate2 `model.bin`. Raises ValueError on a malformed file."""
    data = path.read_bytes()
    try:
        return _read(data)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"model.bin: {path} is truncated or not a CTranslate2 model ({exc})") from exc


def write_model_bin(weights: ModelWeights, aliases: Sequence[tuple[str, str]] = ()) -> bytes:
    """The `model.bin` bytes of `weights`, and of `aliases` as (alias, target) names.

    Each variable of `weights` is stored under its own name: leave an alias out of `weights`.
    """
    type_ids = {dtype: type_id for type_id, dtype in _DTYPES.items()}

    def string(text: str) -> bytes:
        encoded = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(encoded)) + encoded

    parts = [struct.pack("<I", _BINARY_VERSION), string(weights.spec), struct.pack("<I", weights.revision),
             struct.pack("<I", len(weights.variables))]
    for name, value in weights.variables.items():
        if value.dtype not in type_ids:
            raise ValueError(f"model.bin: cannot store {name} as {value.dtype}")
        raw = np.ascontiguousarray(value).tobytes()
        parts += [string(name), struct.pack("<B", value.ndim), *(struct.pack("<I", d) for d in value.shape),
                  struct.pack("<B", type_ids[value.dtype]), struct.pack("<I", len(raw)), raw]
    parts.append(struct.pack("<I", len(aliases)))
    parts += [string(alias) + string(target) for alias, target in aliases]
    return b"".join(parts)


def encoder_only_model_bin(weights: ModelWeights) -> bytes:
    """A Whisper `model.bin` for running its encoder only: the decoder cut to one layer and one token.

    The encoder's variables are untouched, so `encode` gives the very same output; the decoder
    still loads (CTranslate2 needs one layer) but cannot produce text.
    """
    variables = {name: value for name, value in weights.variables.items() if not _LATER_DECODER_LAYER.match(name)}
    for name in _VOCABULARY_VARIABLES:
        for variable in (name, f"{name}_scale", name.replace("/weight", "/bias")):
            if variable in variables and variables[variable].ndim >= 1:
                variables[variable] = variables[variable][:1]
    return write_model_bin(ModelWeights(spec=weights.spec, revision=weights.revision, variables=variables))


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
    locations: dict[str, tuple[int, int, int]] = {}
    for _ in range(unpack("<I")):
        name = string()
        shape = tuple(unpack("<I") for _ in range(unpack("<B")))
        type_id = unpack("<B")
        num_bytes = unpack("<I")
        if offset + num_bytes > len(data):
            raise IndexError(f"variable {name} needs {num_bytes} bytes, {len(data) - offset} left")
        if type_id != _BFLOAT16 and type_id not in _DTYPES:
            raise ValueError(f"model.bin: variable {name} has unknown data type id {type_id}")
        locations[name] = (offset, type_id, num_bytes)
        variables[name] = decode_values(data[offset : offset + num_bytes], type_id).reshape(shape)
        offset += num_bytes
    for _ in range(unpack("<I")):
        alias, target = string(), string()
        # a quantized target's scale goes with it (CTranslate2 ties before it quantizes)
        for suffix in ("", "_scale"):
            if f"{target}{suffix}" in variables and f"{alias}{suffix}" not in variables:
                variables[f"{alias}{suffix}"] = variables[f"{target}{suffix}"]
                locations[f"{alias}{suffix}"] = locations[f"{target}{suffix}"]
    if offset != len(data):
        raise ValueError(f"model.bin: {len(data) - offset} unread bytes after the aliases")
    return ModelWeights(spec=spec, revision=revision, variables=variables, locations=locations)


def decode_values(raw: bytes, type_id: int) -> npt.NDArray[np.generic]:
    """Stored values as a flat array (a view of `raw`, except bfloat16, widened to float32)."""
    if type_id == _BFLOAT16:  # the upper half of a float32
        widened: npt.NDArray[np.generic] = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        return widened
    return np.frombuffer(raw, dtype=_DTYPES[type_id])
