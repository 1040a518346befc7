"""The zoo: deterministic for a seed, loadable HF folders, a valid suite and run config."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import typer
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner
from zoo_fixture import small_zoo, small_zoo_info  # noqa: F401

from evolution.cli import zoo_cmd
from evolution.scoring.tasks import load_suite
from evolution.zoo import build_zoo, skills
from evolution.zoo.tokenizer import encode


def weight_hashes(out: Path) -> dict[str, str]:
    hashes = {}
    for st in sorted(out.glob("*/model.safetensors")):
        for name, t in sorted(load_file(str(st)).items()):
            hashes[f"{st.parent.name}/{name}"] = hashlib.sha256(t.numpy().tobytes()).hexdigest()
    return hashes


def test_same_seed_same_weights_other_seed_differs(tmp_path: Path) -> None:
    first = small_zoo_info(0)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `zoo build` nested, as in the real CLI."""

    zoo_cmd.register(app)
    res = CliRunner().invoke(app, ["zoo", "build", "--out", str(tmp_path / "again"), "--small", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "run.yaml" in res.stdout and "expert_tr" in res.stdout
    again = tmp_path / "again"
    other = build_zoo(tmp_path / "other", seed=1, small=True, progress=False)
    h0, h_again, h1 = weight_hashes(first.out), weight_hashes(again), weight_hashes(other.out)
    assert len(h0) > 4 * 10 and h0 == h_again
    assert set(h0) == set(h1) and all(h0[k] != h1[k] for k in h0)
    assert (first.out / "data" / "add_test.jsonl").read_text() == (
        again / "data" / "add_test.jsonl"
    ).read_text()
    assert (first.out / "data" / "add_test.jsonl").read_text() != (
        other.out / "data" / "add_test.jsonl"
    ).read_text()


def test_experts_differ_from_base_and_each_other(small_zoo) -> None:  # noqa: F811
    h = weight_hashes(small_zoo.out)
    for name in ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight"):
        values = {h[f"{folder}/{name}"] for folder in ("base", "expert_add", "expert_rev", "expert_tr")}
        assert len(values) == 4


def test_folders_load_with_auto_classes(small_zoo) -> None:  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert set(small_zoo.models) == {"base", "add", "rev", "tr"}
    folder = small_zoo.models["tr"]
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == "llama" and not model.config.tie_word_embeddings
    text = "tr:QWE=123"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[1:] == encode(text)
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.padding_side == "left" and tok.eos_token_id == model.config.eos_token_id


def test_suite_and_run_config(small_zoo) -> None:  # noqa: F811
    suite = load_suite(small_zoo.suite)
    assert suite.names == ["add", "rev", "tr", "fadd"]
    for t in suite.tasks:
        dev, test = t.items("dev"), t.items("test")
        assert len(dev) == 16 and len(test) == 16
        assert not {i.prompt for i in dev} & {i.prompt for i in test}
    cfg = yaml.safe_load(small_zoo.run_config.read_text())
    assert cfg["base"] == "base" and cfg["tasks"] == "suite.yaml"
    assert cfg["models"] == {"base": "base", "add": "expert_add", "rev": "expert_rev", "tr": "expert_tr"}
    for rel in cfg["models"].values():
        assert (small_zoo.run_config.parent / rel / "config.json").is_file()


def test_skills_are_correct_and_seeded() -> None:
    a = [skills.add(random.Random("s")) for _ in range(3)]
    assert a == [skills.add(random.Random("s")) for _ in range(3)]
    rng = random.Random(5)
    for _ in range(50):
        p, ans = skills.add(rng)
        x, y = p[:-1].split("+")
        assert int(x) + int(y) == int(ans)
        p, ans = skills.fadd(rng)
        x, y = p[:-1].translate(skills.FROM_SCRIPT).split("+")
        assert int(x) + int(y) == int(ans.translate(skills.FROM_SCRIPT))
        p, ans = skills.rev_eval(rng)
        assert p[4:-1][::-1] == ans and 6 <= len(ans) <= 8
        p, ans = skills.tr(rng)
        assert p[3:-1] != ans and p[3:-1].translate(skills.FROM_SCRIPT) == ans.translate(skills.FROM_SCRIPT)
    test = skills.eval_split("add", 0, 50)
    assert len({p for p, _ in test}) == 50
    assert json.dumps(test) == json.dumps(skills.eval_split("add", 0, 50))
