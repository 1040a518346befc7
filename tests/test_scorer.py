"""Scorer on hand-made cases: a Llama wired to emit a known string, choices, perplexity, CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers_bigram import EMIT_HI, bigram_model

from evolution.scoring.generate import greedy_generate
from evolution.scoring.scorer import bootstrap_ci, score_model, score_task
from evolution.scoring.tasks import load_suite
from evolution.zoo.tokenizer import VOCAB, build_tokenizer
from evolution.zoo.train import ModelSize, new_model


def write_suite(tmp: Path, tasks: list[dict], items: dict[str, list[dict]]) -> Path:
    for name, rows in items.items():
        (tmp / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp / "suite.yaml"
    path.write_text(json.dumps({"tasks": tasks}))  # JSON is YAML
    return path


def test_forced_string_scores_one_and_wrong_answer_zero(tmp_path: Path) -> None:
    items = [
        {"prompt": "ab=", "answer": "hi"},
        {"prompt": "12+3=", "answer": "ho"},
        {"prompt": "c", "answer": "hi"},
    ]
    suite = load_suite(
        write_suite(
            tmp_path,
            [
                {
                    "name": "em",
                    "metric": "exact_match",
                    "dev": "d.jsonl",
                    "test": "t.jsonl",
                    "max_new_tokens": 5,
                }
            ],
            {"d.jsonl": items, "t.jsonl": items[:1]},
        )
    )
    model, tok = bigram_model(EMIT_HI), build_tokenizer()
    scores = score_model(model, tok, suite, "dev", bootstrap=0)
    assert scores.tasks["em"].per_item == [1.0, 0.0, 0.0]  # "c" -> "xxxxx", never "hi"
    assert scores.tasks["em"].score == pytest.approx(1 / 3)
    assert score_model(model, tok, suite, "test").tasks["em"].score == 1.0


def test_generation_stops_at_stop_string_and_max_tokens() -> None:
    model, tok = bigram_model({"=": "a", "a": "b", "b": "c", "c": "a"}), build_tokenizer()
    prompt = [list(tok("q=")["input_ids"])]
    assert greedy_generate(model, tok, prompt, 7) == ["abcabca"]
    assert greedy_generate(model, tok, prompt, 7, stops=["ca"]) == ["ab"]
    assert greedy_generate(model, tok, prompt, 2) == ["ab"]


def test_choice_and_perplexity_on_hand_made_cases(tmp_path: Path) -> None:
    choice_items = [
        {"prompt": "q=", "choices": ["ab", "hi"], "answer": 1},
        {"prompt": "q=", "choices": ["hi", "ab"], "answer": 1},
    ]
    ppl_items = [{"prompt": "q=", "answer": "hi"}, {"prompt": "q=", "answer": "zz"}]
    suite = load_suite(
        write_suite(
            tmp_path,
            [
                {"name": "ch", "metric": "choice", "dev": "c.jsonl", "test": "c.jsonl"},
                {"name": "pp", "metric": "perplexity", "dev": "p.jsonl", "test": "p.jsonl"},
            ],
            {"c.jsonl": choice_items, "p.jsonl": ppl_items},
        )
    )
    model, tok = bigram_model(EMIT_HI), build_tokenizer()
    scores = score_model(model, tok, suite, "dev", bootstrap=0)
    assert scores.tasks["ch"].per_item == [1.0, 0.0]
    good, bad = scores.tasks["pp"].per_item
    # Reference: exp(-mean NLL) of the answer tokens, computed from a full forward pass.
    ids = tok("q=hi")["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    nll = -(logp[2, VOCAB["h"]] + logp[3, VOCAB["i"]]) / 2
    assert good == pytest.approx(math.exp(-nll.item()), rel=1e-5)
    assert good > 0.9 > 0.1 > bad


def test_scores_do_not_depend_on_batch_size(tmp_path: Path) -> None:
    model = new_model(ModelSize(hidden=32, layers=2, heads=2, intermediate=64), seed=1).eval()
    tok = build_tokenizer()
    words = ["1+2=", "rev:abcdefgh=", "tr:QW=", "55+66=", "cp:abc=", "x", "rev:ab=", "999+1="]
    prompts = [list(tok(p)["input_ids"]) for p in words * 3]
    outs = [greedy_generate(model, tok, prompts, 6, batch_size=b) for b in (1, 5, 64)]
    assert outs[0] == outs[1] == outs[2]
    assert len(set(outs[0])) > 1  # a random model still says different things
    items = [{"prompt": w, "answer": "ab"} for w in words]
    suite = load_suite(
        write_suite(
            tmp_path,
            [{"name": "em", "metric": "exact_match", "dev": "d.jsonl", "test": "d.jsonl"}],
            {"d.jsonl": items},
        )
    )
    task = suite.task("em")
    graded = [score_task(model, tok, task, "dev", batch_size=b, graded=True) for b in (1, 3, 64)]
    assert graded[0] == pytest.approx(graded[1], abs=1e-6) == graded[2]


def test_bootstrap_ci_brackets_the_mean_and_is_seeded() -> None:
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(values, 500, seed=3)
    assert lo is not None and hi is not None
    assert lo < 0.3 < hi and hi - lo < 0.3
    assert bootstrap_ci(values, 500, seed=3) == (lo, hi)
    assert bootstrap_ci(values, 0) == (None, None)
    assert bootstrap_ci([1.0] * 5, 100) == (1.0, 1.0)
