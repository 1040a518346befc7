"""The shipped demo zoo: packed as float16 with a build record, intact on disk, and a rebuild from its
record checked weight for weight (here on the small zoo, which builds in seconds; the full check of
the shipped zoo is `evomerge zoo verify`, about 8 minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner
from zoo_fixture import small_zoo_info

from evolution.cli import zoo_cmd
from evolution.runs.config import load_config
from evolution.zoo.build import BUILD_RECORD
from evolution.zoo.shipped import (
    MANIFEST,
    WEIGHTS,
    ZooError,
    compare_rebuild,
    model_folders,
    pack_zoo,
    read_manifest,
    rebuild_and_compare,
    shipped_zoo,
    weights_digest,
)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `zoo ...` nested, as in the real CLI."""

    zoo_cmd.register(app)
    return app


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("packed") / "zoo"
    res = CliRunner().invoke(_cli(), ["zoo", "pack", str(small_zoo_info().out), str(dst)])
    assert res.exit_code == 0, res.output
    return dst


def test_build_records_how_it_was_built() -> None:
    record = json.loads((small_zoo_info().out / BUILD_RECORD).read_text())
    assert record["seed"] == 0 and record["spec"] == "small" and record["threads"] == 1
    assert record["torch"] and set(record["losses"]) == {"base", "add", "rev", "tr"}


def test_pack_stores_float16_and_the_digests(packed: Path) -> None:
    src = small_zoo_info().out
    manifest = read_manifest(packed)
    assert manifest["stored_dtype"] == "float16" and manifest["seed"] == 0 and manifest["threads"] == 1
    assert set(manifest["models"]) == {"base", "expert_add", "expert_rev", "expert_tr"}
    for name, folder in model_folders(packed).items():
        tensors = load_file(str(folder / WEIGHTS))
        assert {str(t.dtype) for t in tensors.values()} == {"torch.float16"}
        assert (folder / WEIGHTS).stat().st_size < 0.6 * (src / name / WEIGHTS).stat().st_size
        assert manifest["models"][name]["float32"] == weights_digest(src / name)
        assert manifest["models"][name]["stored"] == weights_digest(folder)
    cfg = load_config(packed / "run.yaml")  # a ready run config over the packed folders
    assert all(Path(p).is_dir() for p in cfg.models.values()) and Path(cfg.tasks).is_file()
    with pytest.raises(ZooError, match="already exists"):
        pack_zoo(src, packed)


def test_rebuild_from_the_record_is_bitwise_identical(packed: Path, tmp_path: Path) -> None:
    check = rebuild_and_compare(packed, tmp_path / "again", progress=False)
    assert check.identical and check.same_stored and check.ok, check.describe()
    assert all(d < 1e-3 for d in check.max_abs_diff.values())  # float16 rounding only
    assert "bitwise identical" in check.describe()


def test_a_changed_weight_is_caught_and_named(packed: Path, tmp_path: Path) -> None:
    import shutil

    tampered = tmp_path / "tampered"
    shutil.copytree(packed, tampered)
    path = tampered / "expert_rev" / WEIGHTS
    tensors = load_file(str(path))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, str(path), metadata={"format": "pt"})
    check = compare_rebuild(tampered, small_zoo_info().out)
    assert check.identical and check.same_stored  # the build still matches the record...
    assert not check.intact["expert_rev"] and check.intact["base"]  # ...the packed file does not
    assert not check.ok and "expert_rev" in check.describe()
    assert check.max_abs_diff["expert_rev"] > 0.009
    res = CliRunner().invoke(_cli(), ["zoo", "verify", "--zoo", str(tampered), "--quiet"])
    assert res.exit_code == 1 and "expert_rev no longer match" in res.output, res.output
    (tampered / MANIFEST).write_text("{}")
    bad = CliRunner().invoke(_cli(), ["zoo", "verify", "--zoo", str(tampered), "--quiet"])
    assert bad.exit_code == 1 and "format" in bad.output


def test_the_shipped_demo_zoo_is_complete_and_intact() -> None:
    zoo = shipped_zoo()
    assert zoo is not None, "evolution/zoo/demo_zoo is missing (see evolution/zoo/shipped.py)"
    manifest = read_manifest(zoo)
    assert manifest["spec"] == "full" and manifest["stored_dtype"] == "float16"
    folders = model_folders(zoo)
    assert set(folders) == set(manifest["models"]) == {"base", "expert_add", "expert_rev", "expert_tr"}
    for name, folder in folders.items():
        assert weights_digest(folder) == manifest["models"][name]["stored"], f"{name}: weights changed"
    size = sum(p.stat().st_size for p in zoo.rglob("*") if p.is_file())
    assert size < 10e6
    cfg = load_config(zoo / "run.yaml")
    assert cfg.base == "base" and set(cfg.experts) == {"add", "rev", "tr"}
