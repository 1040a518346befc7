"""What a session loads before its first candidate is recorded: not litellm, not sentence-transformers;
and that litellm is loaded after it, in the background, before the first proposal needs it.

Why: `evomerge demo` must reach its first evaluated candidate within seconds. litellm (~4 s of CPU to
import) is needed only for the first proposal, after the seed recipes; memory's embeddings use the
bundled MiniLM through transformers (`memory/mean_pool.py`), not sentence-transformers (~3 s more).
Imported by the first proposal instead, it would hold every proposal slot idle for those seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODE = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers_session import tiny_config
from agents.session import run_session
tmp = Path(tempfile.mkdtemp())
cfg = tiny_config(tmp, "first", budget={{"evaluations": 1}}, memory={{"enabled": True}})
seen = []
def on_record(c, state):
    if state["evaluations"] == 1 and not seen:
        seen.append(sorted(m for m in ("litellm", "sentence_transformers") if m in sys.modules))
result = run_session(cfg, tmp / "runs", on_record=on_record)
print("LOADED=" + ",".join(seen[0]))
print("MEMORY=" + str((result.run_dir / "memory").is_dir()))
"""


def test_first_candidate_needs_neither_litellm_nor_sentence_transformers() -> None:
    code = CODE.format(tests=str(ROOT / "tests"))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LOADED=\n" in r.stdout and "MEMORY=True" in r.stdout, r.stdout


PRELOAD = """
import sys, tempfile, threading
from pathlib import Path
sys.path.insert(0, {tests!r})
import agents.litellm_setup as setup
first = []
load = setup.load_litellm
def watched():
    if setup._LITELLM is None and not first:
        first.append(threading.current_thread().name)
    return load()
setup.load_litellm = watched  # before agents.llm and the offline provider bind it
from helpers_session import tiny_config
from agents.session import run_session
tmp = Path(tempfile.mkdtemp())
cfg = tiny_config(tmp, "pre", budget={{"evaluations": {evaluations}}}, strategy={{"cmaes_inner": 0}})
run_session(cfg, tmp / "runs")
print("FIRST=" + ",".join(first))
print("LOADED=" + str("litellm" in sys.modules))
"""


def run_preload(evaluations: int) -> str:
    code = PRELOAD.format(tests=str(ROOT / "tests"), evaluations=evaluations)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_litellm_is_imported_in_the_background_once_a_candidate_is_kept() -> None:
    out = run_preload(evaluations=4)  # two seeds, then LLM proposals (no polish points)
    assert "FIRST=llm-preload\n" in out and "LOADED=True" in out, out


def test_a_session_that_ends_with_its_seeds_never_imports_litellm() -> None:
    out = run_preload(evaluations=1)
    assert "FIRST=\n" in out and "LOADED=False" in out, out
