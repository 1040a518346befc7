"""Streaming safetensors output: each tensor is written the moment it exists.

Every output tensor's name, dtype and shape are known from the plan before any merging,
so shard headers can be written up front and tensor bytes appended in order. Memory never
holds more than the tensor being written, however large the shard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from evolution.plan import PlanError

if TYPE_CHECKING:
    import torch

INDEX_FILE = "model.safetensors.index.json"
_ST_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
             "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}  # fmt: skip
_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
             "int8": 1, "uint8": 1, "bool": 1}  # fmt: skip
DEFAULT_SHARD_SIZE = 5_000_000_000


@dataclass(frozen=True)
class OutTensor:
    """One tensor the writer will receive: declared before any are written."""

    name: str
    dtype: str  # torch dtype name
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = _ITEMSIZE[self.dtype]
        for d in self.shape:
            n *= d
        return n


def parse_size(text: str | int) -> int:
    """'5GB', '500M', '1GiB', '5B' (mergekit: billion), 1000 → bytes; decimal units as HF uses."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([KMGT]?)(i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise PlanError(f"shard size {text!r}: expected a size such as 2GB, 500MB or 1000000")
    base = 1024 if (m.group(3) or "").lower() == "ib" else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    if not m.group(2) and (m.group(3) or "").upper() == "B":
        power = 3  # mergekit's --out-shard-size "5B" means five billion bytes
    size = int(float(m.group(1)) * base**power)
    if size <= 0:
        raise PlanError(f"shard size {text!r}: must be positive")
    return size


def plan_shards(tensors: Sequence[OutTensor], shard_size: int) -> list[list[OutTensor]]:
    """Greedy split in order; a tensor larger than shard_size gets a shard of its own."""
    shards: list[list[OutTensor]] = [[]]
    used = 0
    for t in tensors:
        if shards[-1] and used + t.nbytes > shard_size:
            shards.append([])
            used = 0
        shards[-1].append(t)
        used += t.nbytes
    return shards


def _header_bytes(shard: Sequence[OutTensor]) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in shard:
        header[t.name] = {
            "dtype": _ST_CODES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


class ShardWriter:
    """Write declared tensors, in declared order, into shards plus an index when sharded."""

    def __init__(
        self, folder: Path, tensors: Sequence[OutTensor], shard_size: int = DEFAULT_SHARD_SIZE
    ) -> None:
        names = [t.name for t in tensors]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise PlanError(f"output tensor {dup} is planned twice")
        self.folder = Path(folder)
        self.shards = plan_shards(tensors, shard_size)
        n = len(self.shards)
        self.files = (
            ["model.safetensors"]
            if n == 1
            else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        )
        self._order = [(i, t) for i, shard in enumerate(self.shards) for t in shard]
        self._pos = 0
        self._fh: BinaryIO | None = None
        self._open_shard = -1

    @property
    def expected(self) -> OutTensor | None:
        return self._order[self._pos][1] if self._pos < len(self._order) else None

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append one tensor's bytes; it must be the next declared one, with its dtype and shape."""
        if self._pos >= len(self._order):
            raise PlanError(f"output tensor {name}: more tensors written than planned")
        shard_i, want = self._order[self._pos]
        got_dtype = str(tensor.dtype).removeprefix("torch.")
        if want.name != name or want.dtype != got_dtype or tuple(tensor.shape) != want.shape:
            raise PlanError(
                f"output tensor {name} {got_dtype}{list(tensor.shape)}: expected {want.name} "
                f"{want.dtype}{list(want.shape)} next"
            )
        if shard_i != self._open_shard:
            self._close_file()
            self._fh = open(self.folder / self.files[shard_i], "wb")  # noqa: SIM115 - closed in _close_file
            self._fh.write(_header_bytes(self.shards[shard_i]))
            self._open_shard = shard_i
        assert self._fh is not None
        data = tensor.detach().to("cpu").contiguous()
        if data.numel():
            self._fh.write(memoryview(data.view(-1).view(_byte_dtype()).numpy()))
        self._pos += 1

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        """Finish the last shard and write the index; every declared tensor must be written."""
        self._close_file()
        if self._pos != len(self._order):
            missing = self._order[self._pos][1].name
            raise PlanError(f"output tensor {missing}: planned but never written")
        if len(self.files) > 1:
            weight_map = {t.name: self.files[i] for i, t in self._order}
            total = sum(t.nbytes for _, t in self._order)
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (self.folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")

    def abort(self) -> None:
        self._close_file()


def _byte_dtype() -> torch.dtype:
    import torch

    return torch.uint8
