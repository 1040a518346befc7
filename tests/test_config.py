"""Run config: a full example loads, paths resolve against the YAML, typos are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evolution.runs.config import ConfigError, dump_config, load_config, parse_config

FULL = """
name: demo-1
models:
  base: models/base
  math: ./models/math
  hub: Qwen/Qwen2.5-0.5B
base: base
tasks: suite.yaml
budget: {evaluations: 12, wall_time_s: 300, dollars: 0.5}
proposers:
  - {model: offline/mutator, weight: 2}
  - {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:8000/v1", temperature: 0.7}
bandit: true
strategy: {kind: evomerge, islands: 3, migrate_every: 5, cmaes_inner: 2}
seed: 7
device: cpu
dtype: float32
executor: local
memory: {url: "http://127.0.0.1:8001"}
reflect_every: 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "models" / "math").mkdir()
    (tmp_path / "suite.yaml").write_text("tasks: []\n")
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def test_full_example_resolves_paths_and_keeps_hub_ids(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, FULL))
    assert cfg.models["base"] == str((tmp_path / "models/base").resolve())
    assert cfg.models["math"] == str((tmp_path / "models/math").resolve())
    assert cfg.models["hub"] == "Qwen/Qwen2.5-0.5B"
    assert cfg.tasks == str((tmp_path / "suite.yaml").resolve())
    assert cfg.experts == ["math", "hub"]
    assert cfg.bandit and cfg.proposers[1].api_base == "http://127.0.0.1:8000/v1"
    assert cfg.strategy.islands == 3 and cfg.budget.dollars == 0.5 and cfg.memory.url.endswith(":8001")


def test_dumped_config_loads_from_elsewhere_unchanged(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, FULL))
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.yaml").write_text(dump_config(cfg))
    again = load_config(other / "config.yaml")
    assert again == cfg


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"budgt": 3}, "unknown key 'budgt'"),
        ({"budget": {"evaluations": 3, "evaluatons": 4}}, "budget.evaluatons: unknown key 'evaluatons'"),
        ({"strategy": {"kind": "genetic"}}, "strategy.kind"),
        ({"proposers": [{"model": "gpt-4o"}]}, "must name a provider"),
        (
            {"proposers": [{"model": "offline/mutator", "temprature": 1}]},
            "proposers.0.temprature: unknown key",
        ),
        ({"base": "nope"}, "base 'nope' is not one of models"),
        ({"name": "bad name!"}, "name"),
        ({"strategy": {"kind": "dfs", "dfs_models": ["base", "nope"]}}, "strategy.dfs_models: 'nope'"),
        ({"strategy": {"kind": "frank_wolfe"}, "base": None}, "the genome needs a base"),
        ({"strategy": {"kind": "frank_wolfe", "fw_radius": 0}}, "strategy.fw_radius"),
        ({"device_memory_gb": 0}, "device_memory_gb"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, patch: dict, expected: str) -> None:
    data = yaml.safe_load(FULL)
    data.update(patch)
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin="run.yaml")
    assert str(err.value).startswith("run.yaml: ")
    assert expected in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_defaults_use_the_offline_proposer() -> None:
    cfg = parse_config({"name": "x", "models": {"a": "/m/a"}, "tasks": "/s.yaml"})
    assert [p.model for p in cfg.proposers] == ["offline/mutator"]
    assert cfg.strategy.kind == "evomerge" and cfg.executor == "local" and cfg.budget.evaluations > 0


def test_objective_parses_round_trips_and_names_bad_fields(tmp_path: Path) -> None:
    from evolution.runs.config import check_paths

    path = _write(tmp_path, FULL + "objective: {kind: constrained, target: math, floors: {code: 0.4}}\n")
    (tmp_path / "d.jsonl").write_text('{"prompt": "a", "answer": "b"}\n')
    tasks = [
        {"name": n, "metric": "exact_match", "dev": "d.jsonl", "test": "d.jsonl"} for n in ("math", "code")
    ]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    cfg = load_config(path)
    assert cfg.objective is not None and cfg.objective.floors == {"code": 0.4}
    (tmp_path / "again.yaml").write_text(dump_config(cfg))
    assert load_config(tmp_path / "again.yaml").objective == cfg.objective
    assert load_config(_write(tmp_path / "plain", FULL)).objective is None
    bad = _write(tmp_path / "bad", FULL + "objective: {kind: median}\n")
    with pytest.raises(
        ConfigError,
        match=r"run\.yaml: objective\.kind: Input should be 'mean', 'min', 'constrained' or 'keep_skills'",
    ):
        load_config(bad)
    wrong = _write(tmp_path / "wrong", FULL + "objective: {weights: {maths: 2}}\n")
    (tmp_path / "wrong" / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    (tmp_path / "wrong" / "d.jsonl").write_text('{"prompt": "a", "answer": "b"}\n')
    cfg = load_config(wrong)
    with pytest.raises(
        ConfigError, match=r"^objective\.weights\.maths: 'maths' is not a task of the suite \(math, code\)"
    ):
        check_paths(cfg.model_copy(update={"models": {"base": str(tmp_path)}}))


def test_the_documented_example_config_is_a_valid_config() -> None:
    """docs/run-config.md's full example, every key in it, parses as written."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "run-config.md").read_text()
    example = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", text, re.S)[0])
    cfg = parse_config(example, origin="docs/run-config.md")
    assert cfg.executor == "local" and cfg.concurrency.proposals == 1 and cfg.ray.address is None
    assert {"concurrency", "ray", "executor", "objective", "memory"} <= set(example)
