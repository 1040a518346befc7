"""A small zoo built once per test session, for any test that needs real model folders.

Use it from a test module with `from zoo_fixture import small_zoo  # noqa: F401` and a test
argument `small_zoo` (a `ZooInfo`: `.out`, `.models` alias -> folder, `.base`, `.suite`,
`.run_config`), or call `small_zoo_path()` for the folder. The `--small` build takes seconds;
its models are untrained toys (scores near 0), fine for plumbing, not for merging effects.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from evolution.zoo import ZooInfo, build_zoo

SMALL_ZOO_SEED = 0
_CACHE: dict[int, ZooInfo] = {}


def small_zoo_info(seed: int = SMALL_ZOO_SEED) -> ZooInfo:
    """Build (once per process and seed) a --small zoo in a temporary folder."""
    if seed not in _CACHE:
        out = Path(tempfile.mkdtemp(prefix=f"evomerge-small-zoo-{seed}-"))
        atexit.register(shutil.rmtree, out, True)  # one per test process, gone when it exits
        _CACHE[seed] = build_zoo(out, seed=seed, small=True, progress=False)
    return _CACHE[seed]


def small_zoo_path(seed: int = SMALL_ZOO_SEED) -> Path:
    """The folder holding base/, expert_*/, suite.yaml and run.yaml. Treat it as read-only."""
    return small_zoo_info(seed).out


@pytest.fixture(scope="session")
def small_zoo() -> ZooInfo:
    return small_zoo_info()


_POOL_CACHE: dict[int, ZooInfo] = {}


def small_pool_info(seed: int = SMALL_ZOO_SEED) -> ZooInfo:
    """Build (once per process and seed) a --small --pool zoo: a base and eight toy experts."""
    if seed not in _POOL_CACHE:
        out = Path(tempfile.mkdtemp(prefix=f"evomerge-small-pool-{seed}-"))
        atexit.register(shutil.rmtree, out, True)
        _POOL_CACHE[seed] = build_zoo(out, seed=seed, small=True, progress=False, pool=True)
    return _POOL_CACHE[seed]


@pytest.fixture(scope="session")
def small_pool() -> ZooInfo:
    return small_pool_info()
