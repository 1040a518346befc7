"""Reading Hugging Face model folders lazily, and checking that models can be merged.

Shapes and dtypes come from the safetensors headers (a few KB per file), so plans can be
checked for every model before one tensor byte is read. Tensors are read one at a time:
`read` copies into fresh memory; `view` maps the file's bytes without copying (for a merge
that reads each tensor once) and `release` gives their pages back.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
import struct
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolution.merge.arch import TensorKey, split_name
from evolution.merge.plan import PlanError

if TYPE_CHECKING:
    import torch

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
HUB_PATTERNS = ["config.json", "*.safetensors", INDEX_FILE, "tokenizer*", "special_tokens_map.json",
                "generation_config.json", "*.model", "vocab.*", "merges.txt", "chat_template.*"]  # fmt: skip
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# safetensors dtype codes → torch dtype names
ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
             "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor lives and what it is, from the file header alone."""

    file: str
    dtype: str  # torch dtype name, e.g. "float32"
    shape: tuple[int, ...]
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class ModelFacts:
    """What recipes and plan checks need to know about a source model."""

    alias: str
    path: str
    architecture: str
    num_layers: int
    hidden_size: int
    vocab_size: int
    tied_embeddings: bool
    layer_modules: tuple[str, ...]


def read_header(path: Path) -> dict[str, TensorInfo]:
    """Parse one safetensors header into TensorInfo records."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise PlanError(f"{path}: not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", raw)
        if n > 100_000_000:
            raise PlanError(f"{path}: not a safetensors file (header size {n})")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PlanError(f"{path}: not a safetensors file (bad header)") from None
    out: dict[str, TensorInfo] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        dtype = ST_DTYPES.get(meta["dtype"])
        if dtype is None:
            raise PlanError(f"{path}: tensor {name} has unsupported dtype {meta['dtype']}")
        out[name] = TensorInfo(str(path), dtype, tuple(meta["shape"]), 8 + n + begin, end - begin)
    return out


class ModelFolder:
    """A local HF model folder: config plus lazily read safetensors (single or sharded)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        check_folder(self.path)
        try:
            self.config: dict[str, Any] = json.loads((self.path / "config.json").read_text())
        except json.JSONDecodeError as e:
            raise PlanError(
                f"model folder {self.path}: config.json is not JSON ({e.msg}, line {e.lineno})"
            ) from None
        self._handles: dict[str, int] = {}
        self._maps: dict[str, mmap.mmap] = {}
        self._addrs: dict[str, int] = {}  # each mapping's address, for madvise through ctypes
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ModelFolder({str(self.path)!r})"

    @cached_property
    def index(self) -> dict[str, TensorInfo]:
        """Every tensor's file, dtype, shape and offset, from headers only."""
        index_path = self.path / INDEX_FILE
        if index_path.exists():
            try:
                weight_map: dict[str, str] = json.loads(index_path.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError):
                raise PlanError(f"model folder {self.path}: {INDEX_FILE} has no weight_map") from None
            files = sorted(set(weight_map.values()))
        elif (self.path / SINGLE_FILE).exists():
            files = [SINGLE_FILE]
        else:
            files = sorted(p.name for p in self.path.glob("*.safetensors"))
        out: dict[str, TensorInfo] = {}
        for fname in files:
            fpath = self.path / fname
            if not fpath.exists():
                raise PlanError(f"model folder {self.path}: shard {fname} named in {INDEX_FILE} is missing")
            out.update(read_header(fpath))
        return out

    def tensor_names(self) -> list[str]:
        return list(self.index)

    def has(self, name: str) -> bool:
        return name in self.index

    def info(self, name: str) -> TensorInfo:
        try:
            return self.index[name]
        except KeyError:
            raise PlanError(f"model folder {self.path}: no tensor {name}") from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self.info(name).shape

    def dtype(self, name: str) -> str:
        return self.info(name).dtype

    def read(
        self, name: str, device: str = "cpu", dtype: torch.dtype | None = None, *, copy: bool = True
    ) -> torch.Tensor:
        """One tensor, read now with one pread into fresh memory (no mmap pages held).

        Converted to `dtype` only when it differs; thread-safe, so a reader thread can
        prefetch while another merges. `copy=False` returns `view(name, device, dtype)`
        instead: no copy, but read-only, and its pages are held until `release(name)`.
        """
        import torch

        if not copy:
            return self.view(name, device, dtype)
        info = self.info(name)
        with self._lock:
            fd = self._handles.get(info.file)
            if fd is None:
                fd = os.open(info.file, os.O_RDONLY)
                self._handles[info.file] = fd
        buf = torch.empty(info.nbytes, dtype=torch.uint8)
        got = os.preadv(fd, [buf.numpy()], info.offset) if info.nbytes else 0
        if got != info.nbytes:
            raise PlanError(f"model folder {self.path}: tensor {name} is truncated in {Path(info.file).name}")
        t = buf.view(getattr(torch, info.dtype)).reshape(info.shape)
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if device != "cpu":
            t = t.to(device)
        return t

    def view(self, name: str, device: str = "cpu", dtype: torch.dtype | None = None) -> torch.Tensor:
        """One tensor without a copy: the file's bytes mapped into memory (mmap).

        Why: a disk merge reads each source tensor once; copying it first cost as much as the
        merge itself, while a mapping reads the page cache in place (as mergekit does). The
        view is read-only (writing into it crashes the process). Its pages count as this
        process's memory until `release(name)`. A `dtype` or `device` other than the file's
        gives a converted copy.
        """
        import torch

        info = self.info(name)
        torch_dtype = getattr(torch, info.dtype)
        if info.nbytes == 0:
            t = torch.empty(info.shape, dtype=torch_dtype)
        else:
            mm = self._map(info.file)
            if info.offset + info.nbytes > len(mm):
                raise PlanError(
                    f"model folder {self.path}: tensor {name} is truncated in {Path(info.file).name}"
                )
            count = info.nbytes // torch_dtype.itemsize
            with warnings.catch_warnings():  # torch warns once that the buffer is read-only
                warnings.filterwarnings("ignore", message="The given buffer is not writable")
                t = torch.frombuffer(mm, dtype=torch_dtype, count=count, offset=info.offset)
            t = t.view(info.shape)
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if device != "cpu":
            t = t.to(device)
        return t

    def _map(self, file: str) -> mmap.mmap:
        """The whole file mapped once, read-only, sharing the page cache's pages."""
        with self._lock:
            mm = self._maps.get(file)
            if mm is None:
                with open(file, "rb") as f:
                    mm = self._maps[file] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self._addrs[file] = _address(mm)
        return mm

    def _advise(self, name: str, advice: int) -> None:
        """madvise over a tensor's pages, without holding the GIL (ctypes releases it).

        Why: mmap.madvise holds the GIL for the whole call, so a reader thread populating
        pages stalled the merging thread. Best effort: errors (old kernels) are ignored.
        """
        info = self.info(name)
        if info.nbytes == 0 or _LIBC is None:
            return
        self._map(info.file)
        start = info.offset - info.offset % mmap.PAGESIZE  # madvise wants a page-aligned start
        addr = self._addrs[info.file] + start
        _LIBC.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(info.offset + info.nbytes - start), advice)

    def release(self, name: str) -> None:
        """Drop the pages of a viewed tensor from this process; they stay in the page cache.

        Why: mapped pages count as memory until unmapped, so a streaming merge releases each
        job's inputs once they are no longer needed, keeping its peak bounded. Views stay
        usable (touching them maps the file's bytes again). A no-op when nothing is mapped.
        """
        if self.info(name).file in self._maps and hasattr(mmap, "MADV_DONTNEED"):
            self._advise(name, mmap.MADV_DONTNEED)

    def prefetch(self, name: str) -> None:
        """Map a tensor's pages in now (Linux >= 5.14), e.g. in a reader thread ahead of use.

        Why: touching a fresh view page by page costs a fault per few pages in the thread
        that merges; one madvise call maps them all. Best effort: a no-op where unsupported.
        """
        if sys.platform.startswith("linux"):  # older kernels refuse: pages fault in on use instead
            self._advise(name, getattr(mmap, "MADV_POPULATE_READ", 22))

    def close(self) -> None:
        for fd in self._handles.values():
            os.close(fd)
        self._handles.clear()
        # Never mm.close(): views do not pin the mapping against it (reading one afterwards
        # would crash). Each view holds a reference instead; the last one gone unmaps it.
        self._maps.clear()
        self._addrs.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def num_layers(self) -> int:
        cfg = text_config(self.config)
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            if isinstance(cfg.get(key), int):
                return int(cfg[key])
        return len(self._by_layer)

    def tied_embeddings(self) -> bool:
        """True when the head reuses the token embeddings (no lm_head tensor is stored)."""
        has_head = any(k.kind == "head" for k in self.keys.values())
        cfg = text_config(self.config)
        return bool(cfg.get("tie_word_embeddings", self.config.get("tie_word_embeddings", not has_head)))

    def layer_suffixes(self, layer: int = 0) -> tuple[str, ...]:
        """Tensor suffixes of one layer, in file order (e.g. 'self_attn.q_proj.weight')."""
        return self._by_layer.get(layer, ())

    @cached_property
    def keys(self) -> dict[str, TensorKey]:
        """Every tensor name classified once (plans are planned many times per model)."""
        return {n: split_name(n) for n in self.index}

    @cached_property
    def _by_layer(self) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for k in self.keys.values():
            if k.kind == "layer":
                assert k.layer is not None
                out.setdefault(k.layer, []).append(k.suffix)
        return {i: tuple(v) for i, v in out.items()}

    def layer_prefix(self) -> str:
        """The name prefix of layer tensors, e.g. 'model.layers.' or 'transformer.h.'."""
        for k in self.keys.values():
            if k.kind == "layer":
                return k.prefix
        raise PlanError(f"model folder {self.path}: has no layer tensors")

    def facts(self, alias: str) -> ModelFacts:
        cfg = text_config(self.config)
        archs = self.config.get("architectures") or [self.config.get("model_type", "unknown")]
        return ModelFacts(
            alias=alias,
            path=str(self.path),
            architecture=str(archs[0]),
            num_layers=self.num_layers(),
            hidden_size=int(cfg.get("hidden_size", cfg.get("n_embd", 0))),
            vocab_size=int(cfg.get("vocab_size", 0)),
            tied_embeddings=self.tied_embeddings(),
            layer_modules=self.layer_suffixes(0),
        )


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


def _address(mm: mmap.mmap) -> int:
    """Where a (read-only) mapping starts in memory."""
    import torch

    if len(mm) == 0:
        return 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given buffer is not writable")
        return torch.frombuffer(mm, dtype=torch.uint8, count=1).data_ptr()


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language-model part of a config (multimodal configs nest it)."""
    inner = config.get("text_config")
    return inner if isinstance(inner, dict) else config


def check_folder(path: Path) -> None:
    """Clear messages for what transformers would report misleadingly."""
    if not path.exists():
        raise PlanError(f"model folder {path}: does not exist")
    if not path.is_dir():
        raise PlanError(f"model folder {path}: not a folder")
    if not (path / "config.json").exists():
        raise PlanError(f"model folder {path}: missing config.json")
    if not (path / INDEX_FILE).exists() and not any(path.glob("*.safetensors")):
        raise PlanError(f"model folder {path}: no safetensors weights (model.safetensors or {INDEX_FILE})")


def open_model(ref: str | os.PathLike[str]) -> ModelFolder:
    """A local folder, or a hub id fetched with huggingface_hub (weights as safetensors only)."""
    text = str(ref)
    path = Path(text).expanduser()
    if path.exists() or not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        return ModelFolder(path)
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(text, allow_patterns=HUB_PATTERNS)
    except Exception as e:  # noqa: BLE001 - any hub failure becomes one clear line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PlanError(
            f"model {text}: not a local folder, and fetching it from the hub failed: {first}"
        ) from None
    return ModelFolder(local)


def check_compatible(folders: Mapping[str, ModelFolder], base: str | None = None) -> None:
    """Raise PlanError naming the model and field/tensor that differ, from headers only.

    Layer counts may differ (layer stacks draw from any depth); architecture, hidden size,
    vocabulary, the per-layer module set and every shared tensor's shape must agree.
    """
    if not folders:
        raise PlanError("no models to merge")
    ref_alias = base if base is not None and base in folders else next(iter(folders))
    ref = folders[ref_alias]
    ref_facts = ref.facts(ref_alias)
    for alias, folder in folders.items():
        if alias == ref_alias:
            continue
        facts = folder.facts(alias)
        for field in ("architecture", "hidden_size", "vocab_size"):
            mine, theirs = getattr(facts, field), getattr(ref_facts, field)
            if mine != theirs:
                raise PlanError(
                    f"model {alias} ({folder.path}): {field} is {mine}, "
                    f"but {ref_alias} ({ref.path}) has {theirs}"
                )
        if set(facts.layer_modules) != set(ref_facts.layer_modules):
            extra = sorted(set(facts.layer_modules) ^ set(ref_facts.layer_modules))
            raise PlanError(
                f"model {alias} ({folder.path}): layer tensors differ from {ref_alias}: {', '.join(extra)}"
            )
        for name, info in folder.index.items():
            other = ref.index.get(name)
            if other is not None and other.shape != info.shape:
                raise PlanError(
                    f"model {alias} ({folder.path}): tensor {name} has shape {list(info.shape)}, "
                    f"but {ref_alias} has {list(other.shape)}"
                )
