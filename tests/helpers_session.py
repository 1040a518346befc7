"""Small, fast session configs over the cached small zoo, for the session tests.

The suite is cut to a few items per split (scoring dominates a candidate's time) and the seed
recipes to two starters, so a session of a handful of evaluations runs in seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from zoo_fixture import small_pool_info, small_zoo_info

from evolution.recipes.starters import example_source
from evolution.runs.config import RunConfig, load_config

ITEMS = 4


def as_choice(line: str) -> str:
    """An exact-match item as a two-way choice (the answer, or a near miss): the small zoo's
    models score 0 on exact match, but their choices differ, which tests of score-driven
    behaviour need."""
    item = json.loads(line)
    answer = str(item["answer"])
    miss = answer[::-1] if len(answer) > 1 and answer[::-1] != answer else answer + answer[-1:]
    order = [answer, miss] if len(line) % 2 else [miss, answer]
    return json.dumps({"prompt": item["prompt"], "choices": order, "answer": order.index(answer)})


def tiny_config(
    tmp: Path,
    name: str = "t",
    starters: tuple[str, ...] = ("ties", "task_arithmetic_per_layer"),
    pool: bool = False,
    choice: bool = False,
    items: int = ITEMS,
    **overrides: Any,
) -> RunConfig:
    """A run config over the small zoo (`pool`: the small eight-expert pool) with a cut-down suite;
    `overrides` are top-level keys. `choice`: the tasks become two-way choices (scores that differ
    between merges)."""
    zoo = small_pool_info() if pool else small_zoo_info()
    data_dir = tmp / "suite"
    data_dir.mkdir(parents=True, exist_ok=True)
    suite = yaml.safe_load((zoo.out / "suite.yaml").read_text())
    tasks = []
    for task in suite["tasks"][:2]:
        for split in ("dev", "test"):
            lines = (zoo.out / task[split]).read_text().splitlines()[:items]
            if choice:
                lines = [as_choice(line) for line in lines]
            (data_dir / f"{task['name']}_{split}.jsonl").write_text("\n".join(lines) + "\n")
            task[split] = f"{task['name']}_{split}.jsonl"
        if choice:
            task["metric"] = "choice"
        tasks.append(task)
    (data_dir / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    recipes = tmp / "recipes"
    recipes.mkdir(exist_ok=True)
    for s in starters:
        (recipes / f"{s}.py").write_text(example_source(s))
    cfg = {
        "name": name,
        "models": {alias: str(path) for alias, path in zoo.models.items()},
        "base": zoo.base,
        "tasks": str(data_dir / "suite.yaml"),
        "recipes": [str(recipes)],
        "budget": {"evaluations": 4},
        "memory": {"enabled": False},
        "seed": 1,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(path)


def perplexity_suite(cfg: RunConfig) -> None:
    """Score the config's suite by perplexity: toy models get continuous scores a search can climb."""
    suite = yaml.safe_load(Path(cfg.tasks).read_text())
    for t in suite["tasks"]:
        t["metric"] = "perplexity"
        t.pop("max_new_tokens", None)
    Path(cfg.tasks).write_text(yaml.safe_dump(suite))


def git(run_dir: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=run_dir, capture_output=True, text=True, check=True).stdout


def check_lineage(run_dir: Path, contiguous: bool = True) -> list[Any]:
    """Ids unique (and contiguous, unless the run stopped with candidates in flight, which finish in
    any order), one commit per id, every commit reachable; returns candidates."""
    from evolution.runs.lineage import Lineage

    lin = Lineage.open_or_init(run_dir / "lineage", run_dir.name)
    cands = lin.candidates()
    ids = [c.id for c in cands]
    assert len(ids) == len(set(ids))
    if contiguous:
        assert sorted(ids) == [f"c{i:04d}" for i in range(len(ids))], ids
    subjects = git(run_dir, "log", "--all", "--format=%s").splitlines()
    for cid in ids:
        assert sum(s.startswith(cid + " ") for s in subjects) == 1, f"{cid} committed {subjects}"
    fsck = subprocess.run(
        ["git", "fsck", "--strict"], cwd=run_dir / "lineage", capture_output=True, text=True
    )
    assert fsck.returncode == 0 and "dangling" not in fsck.stdout + fsck.stderr, fsck.stdout + fsck.stderr
    return cands


def cascade_config(tmp: Path, name: str = "cascade") -> Any:
    """A tiny choice-task run with cascade evaluation whose proposals (seed 0) meet the gate: enough
    evaluations after the seeds and polishes that some stop after the dev subset."""
    return tiny_config(
        tmp,
        name,
        starters=("task_arithmetic", "ties"),
        choice=True,
        items=16,
        budget={"evaluations": 20},
        strategy={
            "islands": 1,
            "cmaes_inner": 3,
            "cascade": {"enabled": True, "share": 0.5, "min_items": 2, "tolerance": 0.0},
        },
    )
