"""The demo zoo shipped with evomerge: ready in seconds, reproducible from its recorded build.

Why shipped: training the full zoo takes 8-10 minutes on two cores, too long to wait for a first
candidate. `evolution/zoo/demo_zoo/` holds the output of `evomerge zoo build --seed 0` with the
weights stored as float16 (the session reads them as float32), and `zoo.json`, which records how
it was built (seed, spec, torch threads, versions) and a digest of every model's float32 weights
as built and as stored. `evomerge zoo verify` rebuilds from that record and compares
(`check_rebuild`); `pack_zoo` is how the folder was made (`evomerge zoo pack`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHIPPED_DIR = Path(__file__).with_name("demo_zoo")
MANIFEST = "zoo.json"
FORMAT = "evomerge.zoo/1"
WEIGHTS = "model.safetensors"
STORED_DTYPE = "float16"


class ZooError(ValueError):
    """A zoo folder or its manifest cannot be used; the message names the file."""


def shipped_zoo() -> Path | None:
    """The shipped demo zoo, or None when this install has none (a checkout without it)."""
    ok = (SHIPPED_DIR / "run.yaml").is_file() and (SHIPPED_DIR / MANIFEST).is_file()
    return SHIPPED_DIR if ok else None


def read_manifest(zoo: Path) -> dict[str, Any]:
    path = zoo / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ZooError(
            f"{path}: no zoo manifest (only a packed zoo has one; see `evomerge zoo pack`)"
        ) from None
    except json.JSONDecodeError as e:
        raise ZooError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ZooError(f"{path}: format: expected {FORMAT!r}")
    for key in ("seed", "spec", "threads", "models"):
        if key not in data:
            raise ZooError(f"{path}: {key}: missing")
    return data


def model_folders(zoo: Path) -> dict[str, Path]:
    """Folder name -> path of every model in a zoo (the folders holding model.safetensors)."""
    return {p.parent.name: p.parent for p in sorted(zoo.glob(f"*/{WEIGHTS}"))}


def weights_digest(folder: Path, dtype: str | None = None) -> str:
    """sha256 over every tensor's name, shape and bytes (rounded to `dtype` first when given,
    then read back as float32, exactly as the session sees stored weights)."""
    import torch
    from safetensors.torch import load_file

    h = hashlib.sha256()
    for name, t in sorted(load_file(str(folder / WEIGHTS)).items()):
        if dtype is not None:
            t = t.to(getattr(torch, dtype))
        t = t.to(torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def read_build_record(zoo: Path) -> dict[str, Any]:
    """The zoo's build.json (seed, spec, threads, versions), written by `build_zoo`."""
    from evolution.zoo.build import BUILD_RECORD

    path = zoo / BUILD_RECORD
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ZooError(f"{path}: missing; pack a zoo made by `evomerge zoo build`") from None
    except json.JSONDecodeError as e:
        raise ZooError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    for key in ("seed", "spec", "threads"):
        if key not in record:
            raise ZooError(f"{path}: {key}: missing")
    return record


def pack_zoo(
    src: Path, dst: Path, build: dict[str, Any] | None = None, dtype: str = STORED_DTYPE
) -> dict[str, Any]:
    """Copy the built zoo `src` to `dst` with its weights stored as `dtype`, and write zoo.json:
    the build record (`build`, else src/build.json) and the digests `compare_rebuild` checks."""
    import torch
    from safetensors.torch import load_file, save_file

    build = dict(build) if build is not None else read_build_record(src)
    if dst.exists():
        raise ZooError(f"{dst}: already exists; remove it first")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(WEIGHTS, MANIFEST))
    models: dict[str, Any] = {}
    for name, folder in model_folders(src).items():
        tensors = load_file(str(folder / WEIGHTS))
        stored = {k: v.to(getattr(torch, dtype)).contiguous() for k, v in tensors.items()}
        save_file(stored, str(dst / name / WEIGHTS), metadata={"format": "pt"})
        models[name] = {
            "float32": weights_digest(folder),
            "stored": weights_digest(dst / name),
            "parameters": sum(t.numel() for t in tensors.values()),
        }
    manifest = {"format": FORMAT, **build, "stored_dtype": dtype, "models": models}
    (dst / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


@dataclass
class RebuildCheck:
    """How a rebuild compares with a packed zoo, model by model."""

    bitwise: dict[str, bool] = field(default_factory=dict)  # float32 weights identical to the record
    stored: dict[str, bool] = field(default_factory=dict)  # identical once rounded to the stored dtype
    intact: dict[str, bool] = field(default_factory=dict)  # the packed files still match the record
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # rebuilt vs stored, float32

    @property
    def identical(self) -> bool:
        return bool(self.bitwise) and all(self.bitwise.values())

    @property
    def same_stored(self) -> bool:
        return bool(self.stored) and all(self.stored.values())

    @property
    def ok(self) -> bool:
        """The packed weights are what the record says, and a rebuild reproduces them."""
        return all(self.intact.values()) and (self.identical or self.same_stored)

    def describe(self) -> str:
        changed = [name for name, ok in self.intact.items() if not ok]
        if changed:
            return f"the packed weights of {', '.join(changed)} no longer match zoo.json (changed on disk)"
        if self.identical:
            return "rebuild is bitwise identical to the recorded build (float32)"
        if self.same_stored:
            return "rebuild differs in float32 but rounds to the same stored weights"
        worst = max(self.max_abs_diff.items(), key=lambda kv: kv[1], default=("-", 0.0))
        return f"rebuild differs from the shipped weights (largest |difference| {worst[1]:.3g} in {worst[0]})"


def compare_rebuild(zoo: Path, rebuilt: Path) -> RebuildCheck:
    """Compare a fresh build with the packed zoo's record (digests) and its stored weights."""
    from safetensors.torch import load_file

    manifest = read_manifest(zoo)
    dtype = str(manifest.get("stored_dtype", STORED_DTYPE))
    built = model_folders(rebuilt)
    check = RebuildCheck()
    for name, rec in manifest["models"].items():
        if name not in built:
            raise ZooError(f"{rebuilt}: no model folder {name}/ (the manifest lists it)")
        check.bitwise[name] = weights_digest(built[name]) == rec["float32"]
        check.stored[name] = weights_digest(built[name], dtype) == rec["stored"]
        check.intact[name] = weights_digest(zoo / name) == rec["stored"]
        a, b = load_file(str(built[name] / WEIGHTS)), load_file(str(zoo / name / WEIGHTS))
        check.max_abs_diff[name] = max(
            float((a[k].float() - b[k].float()).abs().max()) if k in b else float("inf") for k in a
        )
    return check


def rebuild_and_compare(zoo: Path, out: Path, progress: bool = True) -> RebuildCheck:
    """Train the zoo again into `out` from the record in zoo.json (seed, spec, torch threads)
    and compare it with the packed zoo."""
    from evolution.zoo.build import build_zoo

    rec = read_manifest(zoo)
    specs = ("full", "small", "pool-full", "pool-small")
    if rec["spec"] not in specs:
        raise ZooError(f"{zoo / MANIFEST}: spec: expected one of {', '.join(specs)}, got {rec['spec']!r}")
    build_zoo(
        out,
        seed=int(rec["seed"]),
        small=rec["spec"].endswith("small"),
        pool=rec["spec"].startswith("pool-"),
        progress=progress,
        threads=int(rec["threads"]),
    )
    return compare_rebuild(zoo, out)
