"""The candidate record shared by the session, lineage and memory."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evolution.runs.candidate import Candidate, SplitScores, TaskResult


def test_split_summary_has_tasks_and_mean() -> None:
    s = SplitScores(tasks={"add": TaskResult(score=0.5), "rev": TaskResult(score=1.0)})
    assert s.summary() == {"add": 0.5, "rev": 1.0, "mean": 0.75}


def test_failed_candidate_has_no_dev_mean() -> None:
    dev = SplitScores(tasks={"add": TaskResult(score=0.5)})
    assert Candidate(id="c1", dev=dev).dev_mean == 0.5
    assert Candidate(id="c2", dev=dev, status="failed").dev_mean is None


def test_round_trip_and_unknown_fields_rejected() -> None:
    c = Candidate(
        id="c3", parents=["c1", "c2"], dev=SplitScores(tasks={"a": TaskResult(score=0.1, per_item=[0, 1])})
    )
    assert Candidate.model_validate_json(c.model_dump_json()) == c
    with pytest.raises(ValidationError):
        Candidate.model_validate({"id": "c4", "surprise": 1})
