"""The hostile corpus: every recipe under tests/hostile/ must end as a clear error, no harm done.

Each recipe runs twice, concurrently with the others: through `run_recipe` (all layers) and
through the run-time layers alone (`_execute`, no AST check), so each layer is shown to hold
by itself. Side effects are checked with a sentinel directory, a canary secret in this
process's environment, a listening socket on 127.0.0.1, and a subreaper that adopts any
process a recipe manages to leave behind.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evolution.recipes.facts import RecipeFacts, RecipeModel
from evolution.recipes.sandbox import RecipeError, RecipeOutcome, _execute, run_recipe

HOSTILE = Path(__file__).parent / "hostile"
FILES = sorted(HOSTILE.glob("*.py"))
CANARY_VAR = "EVOMERGE_TEST_CANARY_SECRET"
TIMEOUT_S = 3.0
# harmless once the AST check is skipped: the disguise is the attack, the code itself is inert
INERT_WITHOUT_AST = {"coding_cookie", "bidi_trojan"}
MODULES = ("self_attn.q_proj.weight", "mlp.down_proj.weight")
FACTS = RecipeFacts(
    tuple(
        RecipeModel(a, 4, hidden_size=32, vocab_size=64, layer_modules=MODULES) for a in ("base", "e1", "e2")
    ),
    base="base",
)


def _header(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines()[:6]:
        m = re.match(r"#\s*(attempts|must hold|expect):\s*(.+)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _leftover_children() -> list[str]:
    """Processes re-parented to (or still children of) this process that run the sandbox child."""
    me = str(os.getpid())
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and "sandbox/child.py" in cmd:
            found.append(f"{d.name}: {cmd}")
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    sentinel_dir = tmp_path_factory.mktemp("sentinel")
    (sentinel_dir / "sentinel.txt").write_text("intact")
    canary = "canary-" + secrets.token_hex(16)
    os.environ[CANARY_VAR] = canary
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of our children come to us
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    def source(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        return text.replace("@SENTINEL_DIR@", str(sentinel_dir)).replace("@PORT@", str(port))

    def run(job: tuple[str, Path]) -> tuple[str, str, RecipeOutcome | RecipeError | BaseException, float]:
        mode, path = job
        start = time.monotonic()
        try:
            if mode == "full":
                result: object = run_recipe(source(path), FACTS, timeout_s=TIMEOUT_S)
            else:
                result = _execute(source(path), FACTS, timeout_s=TIMEOUT_S)
        except BaseException as e:  # noqa: BLE001 - recorded and judged by the tests
            result = e
        return mode, path.stem, result, time.monotonic() - start  # type: ignore[return-value]

    jobs = [(mode, p) for p in FILES for mode in ("full", "runtime_only")]
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, jobs))
        time.sleep(0.3)  # give any escaped process a moment to act before the checks
        connections = []
        try:
            while True:
                connections.append(listener.accept())
        except BlockingIOError:
            pass
        leftovers = _leftover_children()
    finally:
        listener.close()
        del os.environ[CANARY_VAR]
        libc.prctl(36, 0, 0, 0, 0)  # stop adopting orphans once the corpus is done
    return {
        "results": {(mode, name): (res, secs) for mode, name, res, secs in results},
        "sentinel_dir": sentinel_dir,
        "canary": canary,
        "connections": connections,
        "leftovers": leftovers,
        "wall_s": time.monotonic() - start,
    }


def test_corpus_is_large_and_documented() -> None:
    assert len(FILES) >= 30
    for path in FILES:
        head = _header(path)
        assert {"attempts", "must hold", "expect"} <= set(head), f"{path.name}: header incomplete: {head}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_hostile_recipe_fails_clearly(corpus: dict, path: Path) -> None:
    result, secs = corpus["results"][("full", path.stem)]
    expected = set(_header(path)["expect"].split("|"))
    assert isinstance(result, RecipeError), f"{path.name}: expected an error, got {result!r}"
    assert result.kind in expected, f"{path.name}: kind {result.kind} not in {expected}: {result.message}"
    assert result.message and len(result.to_prompt()) < 5000
    assert corpus["canary"] not in result.to_prompt()
    assert secs < TIMEOUT_S + 3


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_runtime_layers_hold_without_the_ast_check(corpus: dict, path: Path) -> None:
    result, secs = corpus["results"][("runtime_only", path.stem)]
    if path.stem in INERT_WITHOUT_AST:
        assert isinstance(result, RecipeOutcome), result
        text = result.stdout
    else:
        assert isinstance(result, RecipeError), f"{path.name}: runtime layers let it through: {result!r}"
        text = result.to_prompt()
    assert corpus["canary"] not in text
    assert secs < TIMEOUT_S + 3


def test_no_side_effects(corpus: dict) -> None:
    sentinel_dir: Path = corpus["sentinel_dir"]
    assert sorted(p.name for p in sentinel_dir.iterdir()) == ["sentinel.txt"]
    assert (sentinel_dir / "sentinel.txt").read_text() == "intact"
    assert corpus["connections"] == [], "a recipe reached the listening socket"
    assert corpus["leftovers"] == [], f"processes left behind: {corpus['leftovers']}"
    assert corpus["wall_s"] < 60


def test_canary_never_leaves_the_parent(corpus: dict) -> None:
    for (mode, name), (result, _) in corpus["results"].items():
        text = result.to_prompt() if isinstance(result, RecipeError) else repr(result)
        if isinstance(result, RecipeOutcome):
            text += result.stdout + result.plan.to_json()
        assert corpus["canary"] not in text, f"{mode}/{name} leaked the canary"
