"""Instruct-style tasks: chat templates, answer rules with answers kept, and user scorers.

A bigram Llama makes the effect visible: it answers "a9b" only after ':' (which the chat
template's assistant header ends with), and filler after a raw prompt.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers_bigram import bigram_model

from evolution.scoring.chat import ChatTemplateError, context_ids
from evolution.scoring.scorer import score_model
from evolution.scoring.tasks import load_suite
from evolution.scoring.user_scorer import ScorerError
from evolution.zoo.tokenizer import EOS, build_tokenizer

TEMPLATE = (
    "{% for m in messages %}{{ m['role'][0] | upper }}:{{ m['content'] }}|{% endfor %}"
    "{% if add_generation_prompt %}A:{% endif %}"
)


@pytest.fixture(scope="module")
def model_tok():
    model = bigram_model({":": "a", "a": "9", "9": "b", "b": EOS})
    tok = build_tokenizer()
    tok.chat_template = TEMPLATE
    return model, tok


def write(tmp: Path, tasks: list[dict], rows: list[dict], files: dict[str, str] | None = None) -> Path:
    (tmp / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    for t in tasks:
        t.setdefault("dev", "items.jsonl")
        t.setdefault("test", "items.jsonl")
    (tmp / "suite.yaml").write_text(yaml.safe_dump({"tasks": tasks}))
    return tmp / "suite.yaml"


def test_chat_template_wraps_prompt_and_system_without_extra_special_tokens(model_tok) -> None:
    _, tok = model_tok
    ids = context_ids(tok, ["q="], chat=True, system="brief", task="t")[0]
    assert tok.decode(ids) == "S:brief|U:q=|A:"
    raw = context_ids(tok, ["q="])[0]
    assert tok.decode(raw, skip_special_tokens=True) == "q=" and len(raw) > 2  # BOS added to raw text
    assert context_ids(tok, [""])[0] == [tok.bos_token_id]


def test_chat_and_answer_rules_score_and_keep_answers(model_tok, tmp_path) -> None:
    model, tok = model_tok
    rows = [{"prompt": "q=", "answer": "9"}, {"prompt": "r=", "answer": "7"}]
    path = write(
        tmp_path,
        [
            {"name": "raw", "metric": "exact_match", "max_new_tokens": 4},
            {"name": "chat", "metric": "exact_match", "chat": True, "max_new_tokens": 4},
            {"name": "regex", "metric": "exact_match", "system": "brief", "extract": {"regex": r"(\d)"}},
            {"name": "number", "metric": "exact_match", "chat": True, "extract": "last_number"},
            {"name": "letter", "metric": "exact_match", "chat": True, "extract": "choice_letter"},
        ],
        rows,
    )
    s = score_model(model, tok, load_suite(path), "dev")
    assert s.tasks["raw"].per_item == [0.0, 0.0] and s.tasks["raw"].answers == []  # plain: nothing kept
    assert s.tasks["chat"].per_item == [0.0, 0.0]  # "a9b" is not "9" without a rule
    assert s.tasks["regex"].per_item == [1.0, 0.0] and s.tasks["regex"].answers == ["9", "9"]
    assert s.tasks["number"].per_item == [1.0, 0.0] and s.tasks["number"].answers == ["9", "9"]
    assert s.tasks["letter"].per_item == [0.0, 0.0] and s.tasks["letter"].answers == [None, None]


def test_a_tokenizer_without_chat_template_is_a_one_line_error(model_tok, tmp_path) -> None:
    model, _ = model_tok
    path = write(
        tmp_path, [{"name": "ja", "metric": "exact_match", "chat": True}], [{"prompt": "a", "answer": "b"}]
    )
    with pytest.raises(ChatTemplateError, match=r"^task 'ja': chat: the tokenizer has no chat template"):
        score_model(model, build_tokenizer(), load_suite(path), "dev")


SCORERS = '''
def keyword(texts, items):
    """1 when the item's keyword is in the (extracted) text."""
    return [1.0 if it["keyword"] in t else 0.0 for t, it in zip(texts, items)]

def head_weight(model, tokenizer, items):
    w = float(model.lm_head.weight[0, 0])
    return [w + len(tokenizer(it["text"])["input_ids"]) for it in items]

def short(texts, items):
    return [1.0]

def nan(texts, items):
    return [float("nan")] * len(items)

def boom(texts, items):
    raise KeyError("reference")
'''


def test_user_scorers_get_texts_or_the_model(model_tok, tmp_path) -> None:
    model, tok = model_tok
    rows = [{"prompt": "q=", "keyword": "9b", "text": "ab"}, {"prompt": "z", "keyword": "9b", "text": "abcd"}]
    path = write(
        tmp_path,
        [
            {"name": "kw", "scorer": "scorers_a:keyword", "chat": True, "max_new_tokens": 5},
            {"name": "kw_raw", "scorer": "scorers_a:keyword", "max_new_tokens": 5},
            {"name": "kw_rule", "scorer": "scorers_a:keyword", "chat": True, "extract": {"regex": r"\d"}},
            {"name": "weights", "scorer": "scorers_a:head_weight", "scorer_input": "model"},
        ],
        rows,
        {"scorers_a.py": SCORERS},
    )
    before = list(sys.path)
    s = score_model(model, tok, load_suite(path), "dev")
    assert sys.path == before  # the suite folder was importable only while loading
    assert s.tasks["kw"].per_item == [1.0, 1.0] and s.tasks["kw"].answers == ["a9b", "a9b"]
    assert s.tasks["kw_raw"].per_item == [0.0, 0.0]  # raw prompts: filler, no keyword
    assert s.tasks["kw_rule"].per_item == [0.0, 0.0] and s.tasks["kw_rule"].answers == ["9", "9"]
    with torch.no_grad():
        w = float(model.lm_head.weight[0, 0])
    n = [len(tok(r["text"])["input_ids"]) for r in rows]
    assert s.tasks["weights"].per_item == pytest.approx([w + n[0], w + n[1]])
    assert math.isclose(s.tasks["weights"].score, w + sum(n) / 2, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("scorers_b:short", r"^task 'u': scorer scorers_b:short returned 1 scores for 2 items"),
        ("scorers_b:nan", r"^task 'u': scorer scorers_b:nan: item 0: nan is not a finite number"),
        ("scorers_b:boom", r"^task 'u': scorer scorers_b:boom raised KeyError: 'reference'"),
        ("scorers_b:missing", r"^task 'u': scorer scorers_b:missing: scorers_b has no function 'missing'"),
        ("no_such_module:f", r"^task 'u': scorer no_such_module:f: cannot import 'no_such_module'"),
    ],
)
def test_user_scorer_failures_name_task_and_function(model_tok, tmp_path, ref: str, message: str) -> None:
    model, tok = model_tok
    rows = [{"prompt": "q="}, {"prompt": "r="}]
    path = write(
        tmp_path, [{"name": "u", "scorer": ref, "max_new_tokens": 2}], rows, {"scorers_b.py": SCORERS}
    )
    with pytest.raises(ScorerError, match=message):
        score_model(model, tok, load_suite(path), "dev")
