"""Steering: atomic appends from concurrent processes, applied marks, and the directive parser."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolution.steering.directives import Directives, WeightHint, layer_range, parse_directives
from evolution.steering.messages import append_message, mark_applied, messages_path, read_messages
from evolution.steering.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parent.parent
ALIASES = {
    "base": "/zoo/base",
    "math": "/zoo/expert_math",
    "rev": "/zoo/expert_reverse",
    "copy": "/zoo/expert_copy",
}
TASKS = ["addition", "reverse", "copy"]


def test_append_read_mark(tmp_path: Path) -> None:
    a = append_message(tmp_path, "avoid slerp")
    b = append_message(tmp_path, "  explore more  ", source="interactive")
    assert (a.id, b.id) == ("s0001", "s0002")
    assert b.text == "explore more"
    assert [m.applied for m in read_messages(tmp_path)] == [False, False]
    mark_applied(tmp_path, ["s0001"], "c0003")
    mark_applied(tmp_path, ["s0001"], "c0003")  # a resumed record marks again: no duplicate
    mark_applied(tmp_path, ["s0001", "s0002"], "c0004")
    msgs = {m.id: m for m in read_messages(tmp_path)}
    assert msgs["s0001"].applied_to == ["c0003", "c0004"]
    assert msgs["s0002"].applied_to == ["c0004"] and msgs["s0002"].source == "interactive"
    assert all(m.applied for m in read_messages(tmp_path))
    applied = [json.loads(x) for x in messages_path(tmp_path).read_text().splitlines()]
    assert sum(r["kind"] == "applied" for r in applied) == 3


def test_append_rejects_empty_and_missing_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        append_message(tmp_path, "   ")
    with pytest.raises(FileNotFoundError):
        append_message(tmp_path / "nope", "avoid slerp")
    assert read_messages(tmp_path / "nope") == []


def test_torn_line_is_skipped(tmp_path: Path) -> None:
    append_message(tmp_path, "first")
    with open(messages_path(tmp_path), "a") as f:
        f.write('{"kind": "message", "id": "s00')  # a writer killed mid-line
    append_message(tmp_path, "second")
    assert [m.text for m in read_messages(tmp_path)] == ["first", "second"]


WRITER = """
import sys, time
from pathlib import Path
from evolution.steering.messages import append_message
run, who, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
for i in range(n):
    append_message(run, f"writer {who} message {i}")
"""


def test_four_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    go = tmp_path / "go"
    n = 30
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), str(n), str(go)], cwd=ROOT)
        for w in range(4)
    ]
    time.sleep(0.5)  # let all four import and wait at the start line
    go.touch()
    assert all(p.wait(timeout=40) == 0 for p in procs)
    msgs = read_messages(tmp_path)
    assert len(msgs) == 4 * n
    assert sorted(m.text for m in msgs) == sorted(
        f"writer {w} message {i}" for w in range(4) for i in range(n)
    )
    assert [m.id for m in msgs] == [f"s{i:04d}" for i in range(1, 4 * n + 1)]  # unique, gap-free
    for w in range(4):  # each writer's own messages stay in its order
        mine = [int(m.text.split()[-1]) for m in msgs if m.text.startswith(f"writer {w} ")]
        assert mine == list(range(n))


def test_avoid_slerp() -> None:
    d = parse_directives("avoid slerp", ALIASES, TASKS)
    assert d.avoid_methods == {"slerp"}
    assert not (d.prefer_methods or d.favour_models or d.exclude_models or d.weight_hints)
    assert d.unparsed == ""


def test_arithmetic_expert_more_weight_in_last_layers() -> None:
    text = "avoid slerp; give the arithmetic expert more weight in the last layers"
    d = parse_directives(text, ALIASES, TASKS)
    assert d.avoid_methods == {"slerp"}
    assert d.weight_hints == [WeightHint("math", "last", "more")]
    assert d.unparsed == ""
    # opaque aliases: the task names link "arithmetic" to the alias
    d2 = parse_directives(text, ["base", "e_add", "e_rev"], ["add", "rev"])
    assert d2.weight_hints == [WeightHint("e_add", "last", "more")]
    # with a layer count, "last 2 layers" is a range
    d3 = parse_directives(
        "less weight for the reversal expert in the last 2 layers", ALIASES, TASKS, num_layers=8
    )
    assert d3.weight_hints == [WeightHint("rev", (6, 7), "less")]


def test_unknown_parts_are_reported() -> None:
    d = parse_directives("avoid slerp and sing a song about merges", ALIASES, TASKS)
    assert d.avoid_methods == {"slerp"}
    assert d.unparsed == "sing a song about merges"
    d = parse_directives("make it better", ALIASES, TASKS)
    assert d.is_empty() and d.unparsed == "make it better"
    d = parse_directives("avoid slerp", ALIASES, TASKS, methods=["linear", "ties"])  # not a method here
    assert d.avoid_methods == set() and d.unparsed == "avoid slerp"


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("prefer dare-ties", "prefer_methods", {"dare_ties"}),
        ("don't use task arithmetic or della", "avoid_methods", {"task_arithmetic", "della"}),
        ("avoid ties, della and breadcrumbs", "avoid_methods", {"ties", "della", "breadcrumbs"}),
        ("exclude the reversal model", "exclude_models", {"rev"}),
        ("favour the copy expert", "favour_models", {"copy"}),
        ("focus on layers 2-5", "layer_focus", (2, 5)),
        ("only touch layers 3 to 4", "layer_focus", (3, 4)),
        ("explore more", "explore", "more"),
        ("play it safe and refine the best", "explore", "less"),
    ],
)
def test_directive_kinds(text: str, field: str, value: object) -> None:
    d = parse_directives(text, ALIASES, TASKS)
    assert getattr(d, field) == value, d
    assert d.unparsed == ""


def test_focus_on_named_side_needs_layer_count() -> None:
    assert parse_directives("focus on the first layers", ALIASES, TASKS, num_layers=8).layer_focus == (0, 3)
    d = parse_directives("focus on the first layers", ALIASES, TASKS)
    assert d.layer_focus is None and d.unparsed == "focus on the first layers"
    assert (
        layer_range("last", 8) == (4, 7)
        and layer_range("middle", 9) == (3, 5)
        and layer_range((9, 2), 4) == (2, 3)
    )


def test_later_message_wins_and_dict_round_trip(tmp_path: Path) -> None:
    append_message(tmp_path, "avoid slerp; give the math expert more weight in the last layers")
    append_message(tmp_path, "prefer slerp after all; less weight for the math expert in the last layers")
    d = Vocabulary(ALIASES, tuple(TASKS)).combined([m.text for m in read_messages(tmp_path)])
    assert d.prefer_methods == {"slerp"} and d.avoid_methods == set()
    assert d.weight_hints == [WeightHint("math", "last", "less")]
    again = Directives.from_dict(json.loads(json.dumps(d.to_dict())))
    assert again == d
    assert "prefer slerp" in d.describe() and "less weight for math" in d.describe()


def test_run_vocabulary(tmp_path: Path) -> None:
    model = tmp_path / "expert_math"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"num_hidden_layers": 6}))
    suite = tmp_path / "suite.yaml"
    suite.write_text("tasks:\n  - name: addition\n    metric: exact_match\n  - name: reverse\n")
    (tmp_path / "config.yaml").write_text(f"name: r\nmodels:\n  math: {model}\nbase: math\ntasks: {suite}\n")
    v = Vocabulary.from_run(tmp_path)
    assert v.aliases == {"math": str(model)} and v.tasks == ("addition", "reverse") and v.num_layers == 6
    assert Vocabulary.from_run(tmp_path / "missing") == Vocabulary({})
    assert Vocabulary.from_dict(v.to_dict()) == v


def test_contrasts_and_softer_wording() -> None:
    d = parse_directives("prefer TIES over linear", ALIASES, TASKS)
    assert (d.prefer_methods, d.avoid_methods) == ({"ties"}, {"linear"})
    d = parse_directives("switch to della instead of ties", ALIASES, TASKS)
    assert (d.prefer_methods, d.avoid_methods) == ({"della"}, {"ties"})
    d = parse_directives("more math, less reverse", ALIASES, TASKS)
    assert d.favour_models == {"math"} and d.weight_hints == [WeightHint("rev", "all", "less")]
    assert parse_directives("keep the base model out", ALIASES, TASKS).exclude_models == {"base"}
    d = parse_directives("more weight over the last layers for math", ALIASES, TASKS)
    assert d.weight_hints == [WeightHint("math", "last", "more")] and not d.avoid_methods


def test_verbs_that_look_like_skills() -> None:
    d = parse_directives("add more weight to the copy expert", ALIASES, TASKS)
    assert d.weight_hints == [WeightHint("copy", "all", "more")]  # "add" is the verb here, not the skill
    assert parse_directives("sum up: avoid della", ALIASES, TASKS).exclude_models == set()
    assert parse_directives("use a ties-based merge", ALIASES, TASKS).prefer_methods == {"ties"}
    d = parse_directives("add the math expert to the last layers", ALIASES, TASKS)
    assert d.weight_hints == [WeightHint("math", "last", "more")]
    d = parse_directives("add more weight to the add expert", ["base", "add", "rev"], ["add", "rev"])
    assert d.weight_hints == [WeightHint("add", "all", "more")]
