"""Random search: bounds, initial points, seeds, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from evolution.search.random_search import RandomSearch


def test_uniform_in_bounds_and_initial_first() -> None:
    rs = RandomSearch([0, -1], [1, 1], seed=0, initial=[[0.5, 0.5]])
    first = rs.ask()
    assert first.tolist() == [0.5, 0.5]
    xs = np.array([rs.ask() for _ in range(2000)])
    assert (xs[:, 0] >= 0).all() and (xs[:, 0] <= 1).all() and (xs[:, 1] >= -1).all()
    assert xs[:, 1].mean() == pytest.approx(0.0, abs=0.05) and xs[:, 0].std() == pytest.approx(
        0.2887, abs=0.02
    )


def test_best_and_round_trip() -> None:
    rs = RandomSearch([0, 0, 0], [1, 1, 1], seed=7)
    for _ in range(5):
        x = rs.ask()
        rs.tell(x, -float(np.sum(x)))
    rs.tell(rs.ask(), None)
    back = RandomSearch.from_json(rs.to_json())
    assert back.best_fitness == rs.best_fitness and np.allclose(back.best_x, rs.best_x)  # type: ignore[arg-type]
    assert np.allclose(back.ask(), rs.ask())
    assert not np.allclose(RandomSearch([0], [1], seed=1).ask(), RandomSearch([0], [1], seed=2).ask())
    with pytest.raises(ValueError, match="checkpoint"):
        RandomSearch.from_json('{"format": "nope"}')
