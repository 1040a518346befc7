"""Tiny real model folders for tests: a base and experts fine-tuned from it (random noise).

Others reuse these: `build_family(tmp_path)` returns {alias: folder}; the session fixtures in
conftest.py build one family per test session so each test does not pay for it again.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from evolution.zoo.synthetic import build_random_gpt2, build_random_llama

TINY = {"hidden": 32, "layers": 4, "intermediate": 64, "vocab": 64, "heads": 4, "kv_heads": 2}


def build_family(
    root: Path,
    *,
    experts: int = 2,
    tied: bool = False,
    shard_size: int | None = None,
    noise_scale: float = 0.02,
    **arch: int,
) -> dict[str, Path]:
    """{'base': ..., 'e1': ..., 'e2': ...}: Llama folders; experts are base + seeded noise."""
    cfg = {**TINY, **arch}
    extra = {"shard_size": shard_size} if shard_size else {}
    out = {"base": build_random_llama(root / "base", seed=0, tied=tied, **cfg, **extra)}
    for i in range(1, experts + 1):
        out[f"e{i}"] = build_random_llama(
            root / f"e{i}", seed=i, tied=tied, noise_from=out["base"], noise_scale=noise_scale, **cfg, **extra
        )
    return out


def build_gpt2_family(root: Path, *, experts: int = 1) -> dict[str, Path]:
    out = {"base": build_random_gpt2(root / "base", seed=0, layers=3)}
    for i in range(1, experts + 1):
        out[f"e{i}"] = build_random_gpt2(
            root / f"e{i}", seed=i, layers=3, noise_from=out["base"], noise_scale=0.02
        )
    return out


def poison_tensor(folder: Path, name: str, value: float = float("nan")) -> None:
    """Overwrite the first element of a float32 tensor in place (for NaN/inf tests)."""
    from evolution.merge.modelio import ModelFolder

    info = ModelFolder(folder).info(name)
    assert info.dtype == "float32"
    with open(info.file, "r+b") as f:
        f.seek(info.offset)
        f.write(struct.pack("<f", value))


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def copy_without(src: Path, dest: Path, drop: str) -> Path:
    """A copy of a single-file model folder lacking one tensor (for missing-tensor errors)."""
    import shutil

    from evolution.merge.modelio import ModelFolder
    from evolution.merge.shard_writer import OutTensor, ShardWriter

    shutil.copytree(src, dest)
    (dest / "model.safetensors").unlink()
    folder = ModelFolder(src)
    names = [n for n in folder.tensor_names() if n != drop]
    writer = ShardWriter(dest, [OutTensor(n, folder.dtype(n), folder.shape(n)) for n in names])
    for n in names:
        writer.write(n, folder.read(n))
    writer.close()
    return dest


def uniform_plan(
    models: list[str],
    method: str,
    num_layers: int,
    *,
    base: str | None = None,
    params: dict | None = None,
    source_params: dict[str, dict] | None = None,
    head: bool = True,
    **plan_fields: object,
) -> dict:
    """Plan data merging the same layer index of every model with one method everywhere."""

    def group(layer: int | None) -> dict:
        g: dict = {
            "method": method,
            "sources": [
                {"model": m, "layer": layer, "params": (source_params or {}).get(m, {})} for m in models
            ],
            "params": params or {},
        }
        if base is not None:
            g["base"] = {"model": base, "layer": layer}
        return g

    all_models = list(dict.fromkeys([*models, *([base] if base else [])]))
    return {
        "models": all_models,
        "base_model": base,
        "embed": group(None),
        "layers": [group(i) for i in range(num_layers)],
        "norm": group(None),
        "head": group(None) if head else None,
        **plan_fields,
    }
