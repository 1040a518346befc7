"""Sessions whose fitness is a real task: an lm-eval task, a chat task with an answer rule under a
weighted objective, and a user scorer. All over the small zoo, a few evaluations each.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import yaml
from helpers_bigram import write_jsonl
from helpers_session import check_lineage, git, tiny_config
from zoo_fixture import small_zoo_info

from agents.session import run_session
from evolution.merge.materialize_memory import ResidentMerger
from evolution.merge.plan import MergePlan
from evolution.scoring.scorer import score_model
from evolution.scoring.task_options import Slice, slice_indices
from evolution.scoring.tasks import load_suite

TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] | upper }}:{{ m['content'] }}|{% endfor %}"
    "{% if add_generation_prompt %}A:{% endif %}"
)


pytestmark = pytest.mark.usefixtures("hf_offline")  # nothing may be downloaded


def zoo_rows(task: str) -> list[dict]:
    out = small_zoo_info().out
    return [
        json.loads(line)
        for s in ("dev", "test")
        for line in (out / f"data/{task}_{s}.jsonl").read_text().splitlines()
    ]


def test_session_with_a_local_lmeval_task_as_fitness(tmp_path: Path) -> None:
    """lm-eval YAML tasks over JSONL drive a session; recorded per-item scores equal the native
    scorer's on the same items for the same plans."""
    add = zoo_rows("add")
    rng = random.Random(0)
    pick = []
    for r in add:
        a = int(r["answer"])
        options = [str(a), str(a + 1), str(a - 10)]
        rng.shuffle(options)
        pick.append({"prompt": r["prompt"], "choices": options, "answer": options.index(str(a))})
    lm = tmp_path / "lm"
    lm.mkdir()
    write_jsonl(lm / "add.jsonl", add)
    write_jsonl(lm / "pick.jsonl", pick)
    common = {
        "dataset_path": "json",
        "test_split": "test",
        "doc_to_text": "{{prompt}}",
        "target_delimiter": "",
    }
    cache = str(tmp_path / "cache")
    (lm / "zoo_add.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "zoo_add",
                **common,
                "dataset_kwargs": {"data_files": {"test": "add.jsonl"}, "cache_dir": cache},
                "output_type": "generate_until",
                "doc_to_target": "{{answer}}",
                "generation_kwargs": {"until": [], "max_gen_toks": 10, "do_sample": False},
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
            }
        )
    )
    (lm / "zoo_pick.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "zoo_pick",
                **common,
                "dataset_kwargs": {"data_files": {"test": "pick.jsonl"}, "cache_dir": cache},
                "output_type": "multiple_choice",
                "doc_to_choice": "choices",
                "doc_to_target": "answer",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            }
        )
    )
    dev, test = Slice(items=6), Slice(items=4)
    suite = {
        "tasks": [
            {"name": "add", "lmeval": "lm/zoo_add.yaml", "dev": {"items": 6}, "test": {"items": 4}},
            {"name": "pick", "lmeval": "lm/zoo_pick.yaml", "dev": {"items": 6}, "test": {"items": 4}},
        ]
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    cfg = tiny_config(tmp_path, "lmeval", budget={"evaluations": 3}, tasks=str(tmp_path / "suite.yaml"))
    result = run_session(cfg, tmp_path / "runs")
    cands = [c for c in check_lineage(result.run_dir) if c.status == "ok"]
    assert len(cands) >= 3

    native = []  # the same items, as evomerge's own JSONL tasks
    for name, rows, extra in (
        ("add", add, {"metric": "exact_match", "max_new_tokens": 10}),
        ("pick", pick, {"metric": "choice"}),
    ):
        idx = slice_indices(len(rows), dev, test, cfg.seed, name)
        for split in ("dev", "test"):
            write_jsonl(tmp_path / f"n_{name}_{split}.jsonl", [rows[i] for i in idx[split]])
        native.append({"name": name, "dev": f"n_{name}_dev.jsonl", "test": f"n_{name}_test.jsonl", **extra})
    (tmp_path / "native.yaml").write_text(yaml.safe_dump({"tasks": native}))
    native_suite = load_suite(tmp_path / "native.yaml")
    merger = ResidentMerger.from_paths(cfg.models, cfg.base, device="cpu")
    for c in cands[:2]:
        assert c.dev is not None and c.test is not None and c.plan_json is not None
        model = merger.materialize(MergePlan.from_json(c.plan_json))
        ours = score_model(model, merger.tokenizer, native_suite, "dev", seed=cfg.seed)
        for name in ("add", "pick"):
            assert c.dev.tasks[name].per_item == ours.tasks[name].per_item, (c.id, name)
            assert len(c.test.tasks[name].per_item) == 4
        assert len(c.dev.tasks["add"].answers) == 6  # lm-eval's generations, kept per item
    recorded = json.loads(git(result.run_dir / "lineage", "show", f"{cands[0].commit}:scores.json"))
    assert set(recorded["dev"]["tasks"]) == {"add", "pick"}


def chat_zoo(tmp: Path) -> dict[str, str]:
    """The small zoo's models, copied, with a chat template on every tokenizer."""
    from transformers import AutoTokenizer

    zoo = small_zoo_info()
    models = {}
    for alias, folder in zoo.models.items():
        dest = tmp / "zoo" / Path(folder).name
        shutil.copytree(folder, dest)
        tok = AutoTokenizer.from_pretrained(dest)
        tok.chat_template = TEMPLATE
        tok.save_pretrained(dest)
        models[alias] = str(dest)
    return models


def test_chat_task_regex_rule_and_weighted_objective_drive_a_session(tmp_path: Path) -> None:
    add, rev = zoo_rows("add")[:8], zoo_rows("rev")[:8]
    write_jsonl(tmp_path / "add.jsonl", add)
    write_jsonl(tmp_path / "rev.jsonl", rev)
    tasks = [
        {
            "name": "add_chat",
            "metric": "exact_match",
            "dev": "add.jsonl",
            "test": "add.jsonl",
            "system": "calc",
            "extract": {"regex": r"(\d+)"},
            "max_new_tokens": 6,
        },
        {
            "name": "rev",
            "metric": "exact_match",
            "dev": "rev.jsonl",
            "test": "rev.jsonl",
            "max_new_tokens": 10,
        },
    ]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    cfg = tiny_config(
        tmp_path,
        "chat",
        budget={"evaluations": 4},
        tasks=str(tmp_path / "suite.yaml"),
        models=chat_zoo(tmp_path),
        objective={"weights": {"add_chat": 3, "rev": 1}},
    )
    result = run_session(cfg, tmp_path / "runs")
    cands = check_lineage(result.run_dir)
    ok = [c for c in cands if c.status == "ok"]
    assert len(ok) >= 4
    lineage = result.run_dir / "lineage"
    for c in ok:
        assert c.dev is not None and c.test is not None
        s = {n: t.score for n, t in c.dev.tasks.items()}
        assert c.fitness == c.dev.fitness == pytest.approx((3 * s["add_chat"] + s["rev"]) / 4)
        assert c.dev.objective == "mean(add_chat×3, rev×1)" and c.test.fitness is not None
        answers = c.dev.tasks["add_chat"].answers
        assert len(answers) == 8 and all(a is None or a.isdigit() for a in answers)
        assert c.dev.tasks["rev"].answers == []  # a plain task keeps nothing extra
        recorded = json.loads(git(lineage, "show", f"{c.commit}:scores.json"))
        assert recorded["dev"]["fitness"] == pytest.approx(c.fitness)
        assert recorded["dev"]["objective"] == "mean(add_chat×3, rev×1)"
        assert {n: t["score"] for n, t in recorded["dev"]["tasks"].items()} == s
        assert recorded["dev"]["tasks"]["add_chat"]["answers"] == answers
        trailers = git(lineage, "log", "-1", "--format=%(trailers:key=Fitness,valueonly)", c.commit).strip()
        assert float(trailers) == pytest.approx(c.fitness, abs=1e-6)
    best = max(ok, key=lambda c: (c.fitness, -int(c.id[1:])))
    assert git(lineage, "rev-parse", "best").strip() == best.commit
    assert result.state["best"]["fitness"] == pytest.approx(best.fitness)


SCORER = '''
import math

import torch


def answer_likelihood(model, tokenizer, items):
    """Per item, exp(mean log-prob) of the answer's characters after the prompt."""
    out = []
    for it in items:
        ctx = tokenizer(it["prompt"])["input_ids"]
        ans = tokenizer(it["answer"], add_special_tokens=False)["input_ids"]
        logits = model(input_ids=torch.tensor([ctx + ans])).logits[0]
        logp = torch.log_softmax(logits[len(ctx) - 1 : -1].float(), -1)
        out.append(math.exp(logp.gather(-1, torch.tensor(ans)[:, None]).mean().item()))
    return out
'''


def test_user_scorer_is_the_fitness_of_a_session(tmp_path: Path) -> None:
    """A `module:function` next to the suite scores the resident model; it is the fitness, and
    it equals evomerge's own perplexity metric on the same items."""
    rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in zoo_rows("add")[:6]]
    write_jsonl(tmp_path / "items.jsonl", rows)
    (tmp_path / "fitness_scorers.py").write_text(SCORER)
    tasks = [
        {
            "name": "likely",
            "scorer": "fitness_scorers:answer_likelihood",
            "scorer_input": "model",
            "dev": "items.jsonl",
            "test": "items.jsonl",
        }
    ]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    (tmp_path / "native.yaml").write_text(
        yaml.safe_dump(
            {
                "tasks": [
                    {"name": "likely", "metric": "perplexity", "dev": "items.jsonl", "test": "items.jsonl"}
                ]
            }
        )
    )
    cfg = tiny_config(tmp_path, "scorer", budget={"evaluations": 4}, tasks=str(tmp_path / "suite.yaml"))
    result = run_session(cfg, tmp_path / "runs")
    ok = [c for c in check_lineage(result.run_dir) if c.status == "ok"]
    assert len(ok) >= 4
    merger = ResidentMerger.from_paths(cfg.models, cfg.base, device="cpu")
    native = load_suite(tmp_path / "native.yaml")
    for c in ok[:2]:
        assert c.dev is not None and c.plan_json is not None
        model = merger.materialize(MergePlan.from_json(c.plan_json))
        ours = score_model(model, merger.tokenizer, native, "dev").tasks["likely"].per_item
        assert c.dev.tasks["likely"].per_item == pytest.approx(ours, rel=1e-5)
    assert all(c.fitness == c.dev.tasks["likely"].score for c in ok if c.dev)  # one task, no objective
    assert len({round(c.fitness or 0, 9) for c in ok}) > 1  # the scorer tells merges apart
    best = max(ok, key=lambda c: (c.fitness, -int(c.id[1:])))
    assert git(result.run_dir / "lineage", "rev-parse", "best").strip() == best.commit
