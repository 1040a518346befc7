"""The Chroma memory: round trip across processes, upserts, and server mode against `chroma run`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from memory.embeddings import EF_NAME
from memory.store import MemoryStore, candidate_document, candidate_metadata

ROOT = Path(__file__).resolve().parent.parent
# Any attempt to reach the network from a subprocess fails fast through a dead proxy.
OFFLINE_ENV = {
    **os.environ,
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def make_plan(method: str, t: float = 0.5, n: int = 4) -> MergePlan:
    def layer(i: int) -> dict:
        g: dict = {"method": method, "sources": [{"model": "math", "layer": i}, {"model": "rev", "layer": i}]}
        if method == "slerp":
            g["params"] = {"t": t}
        return g

    e = {"method": "linear", "sources": [{"model": "math"}, {"model": "rev"}]}
    return MergePlan.model_validate(
        {"models": ["math", "rev"], "embed": e, "layers": [layer(i) for i in range(n)], "norm": e}
    )


def make_candidate(
    cid: str, method: str, dev: float, parents: tuple[str, ...] = (), t: float = 0.5
) -> Candidate:
    p = make_plan(method, t)
    scores = SplitScores(tasks={"addition": TaskResult(score=dev), "reverse": TaskResult(score=dev / 2)})
    return Candidate(
        id=cid, parents=list(parents), plan_json=p.canonical_json(), plan_hash=p.content_hash(),
        method_family=method, dev=scores, test=scores, operator="mutate" if parents else "seed",
        proposer="offline/mutator", commit="ab" * 20, island=len(parents), generation=len(parents),
    )  # fmt: skip


WRITER = """
import sys
sys.path.insert(0, sys.argv[2])
from test_memory_store import make_candidate
from memory.store import MemoryStore
s = MemoryStore.open(sys.argv[1])
s.add_candidate(make_candidate("c0000", "slerp", 0.40))
s.add_candidate(make_candidate("c0001", "ties", 0.55, ("c0000",)))
s.add_candidate(make_candidate("c0002", "linear", 0.30, ("c0000", "c0001")))
s.add_candidate(make_candidate("c0001", "ties", 0.55, ("c0000",)))  # a resumed node records it again
s.add_lesson("c0001", "switching slerp to ties lifted addition", kind="lesson")
s.add_steering({"id": "s0001", "time": 1.0, "text": "avoid slerp"})
print("wrote", s.counts())
"""

READER = """
import json, sys
import chromadb
from chromadb.config import Settings
from memory import embeddings
from memory.store import MemoryStore
embeddings.register()
settings = Settings(anonymized_telemetry=False)
client = chromadb.PersistentClient(path=sys.argv[1] + "/memory", settings=settings)
col = client.get_collection("candidates")  # no embedding function given: rebuilt from its config
s = MemoryStore.open(sys.argv[1])
out = {
    "ef": col.configuration_json["embedding_function"]["name"],
    "ef_class": type(col.configuration["embedding_function"]).__name__,  # what a text query embeds with
    "counts": s.counts(),
    "meta": s.candidates(),
    "lessons": [h.document for h in s.lessons()],
    "steering": [h.document for h in s.get("steering")],
    "model_loaded": "sentence_transformers" in sys.modules,
}
print("JSON" + json.dumps(out))
"""


def _run(script: str, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=OFFLINE_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_round_trip_across_processes(tmp_path: Path) -> None:
    """Write in one process, read in another (metadata without the model), then search here."""
    assert "wrote" in _run(WRITER, str(tmp_path), str(Path(__file__).parent))
    line = next(x for x in _run(READER, str(tmp_path)).splitlines() if x.startswith("JSON"))
    out = json.loads(line[4:])
    assert out["ef"] == EF_NAME and out["ef_class"] == "EvomergeEmbedding"  # never chroma's default
    assert out["model_loaded"] is False  # reading records needs no embedding model
    assert out["counts"] == {
        "candidates": 3,
        "lessons": 1,
        "steering": 1,
    }  # the repeated upsert added nothing
    meta = out["meta"]
    assert meta["c0002"]["parents"] == "c0000,c0001"
    assert meta["c0001"]["dev"] == pytest.approx(0.4125) and meta["c0001"]["dev_addition"] == pytest.approx(
        0.55
    )
    assert meta["c0000"]["status"] == "ok" and meta["c0000"]["commit"] == "ab" * 20
    assert meta["c0001"]["island"] == 1 and meta["c0002"]["generation"] == 2
    assert out["lessons"] == ["switching slerp to ties lifted addition"]
    assert out["steering"] == ["avoid slerp"]
    s = MemoryStore.open(tmp_path)  # a third process (this one) searches what the first wrote
    assert s.similar_candidates("ties merge of math and rev", k=1)[0].id == "c0001"
    assert s.relevant_lessons("what did ties do to addition?", k=1)[0].document.startswith("switching")
    assert s.similar_candidates(candidate_document(make_candidate("x", "linear", 0.0)), k=3)[0].id == "c0002"


def test_upsert_replaces_and_metadata_is_scalar(tmp_path: Path) -> None:
    s = MemoryStore.open(tmp_path)
    c = make_candidate("c0007", "slerp", 0.2)
    s.add_candidate(c)
    failed = c.model_copy(
        update={"status": "failed", "error": "RecipeError: boom\nmore", "dev": None, "test": None}
    )
    s.add_candidate(failed)
    assert s.counts()["candidates"] == 1
    meta = s.candidates()["c0007"]
    assert meta["status"] == "failed" and meta["error"] == "RecipeError: boom" and "dev" not in meta
    assert all(isinstance(v, (str, int, float, bool)) for v in candidate_metadata(c).values())
    assert s.find_plan_hash(c.plan_hash or "") == ["c0007"] and s.find_plan_hash("nope") == []
    doc = candidate_document(c)
    assert "slerp" in doc and "0.2" not in doc  # the outcome is metadata, not part of the document
    with pytest.raises(ValueError):
        s.add_lesson("c0007", "x", kind="gossip")
    s.add_lesson("c0007", "meta text", kind="meta", n_done=5)
    assert [h.metadata["n_done"] for h in s.lessons(kind="meta")] == [5]
    s.clear()
    assert s.counts() == {"candidates": 0, "lessons": 0, "steering": 0}
    assert s.similar_candidates("anything") == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    log = open(tmp_path / "chroma.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "chroma.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "chroma server did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_server_mode(tmp_path: Path, chroma_server: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"name: run\nmemory:\n  url: {chroma_server}\n")
    s = MemoryStore.open_for_run(run)
    assert s.location == chroma_server
    s.add_candidate(make_candidate("c0000", "slerp", 0.4))
    s.add_candidate(make_candidate("c0001", "ties", 0.6, ("c0000",)))
    s.add_lesson("c0001", "ties beat slerp on addition")
    assert not (run / "memory").exists()  # nothing embedded in the run folder
    # a second client (as a second writer process would) sees every write, and adds its own
    other = MemoryStore.open(run, url=chroma_server)
    assert set(other.candidates()) == {"c0000", "c0001"}
    other.add_candidate(make_candidate("c0002", "linear", 0.1))
    assert s.counts() == {"candidates": 3, "lessons": 1, "steering": 0}
    # another run on the same server has its own collections
    second = MemoryStore.open(tmp_path / "second-run", url=chroma_server)
    assert second.counts() == {"candidates": 0, "lessons": 0, "steering": 0}
    second.add_candidate(make_candidate("c0000", "ties", 0.9))
    assert s.candidates()["c0000"]["method_family"] == "slerp"
    assert s.similar_candidates("ties merge", k=1)[0].id == "c0001"
    assert (
        s.relevant_lessons("which method helped addition?", k=1)[0].document == "ties beat slerp on addition"
    )


def test_bad_url_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory.url"):
        MemoryStore.open(tmp_path, url="http://")


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"memory.url http://127.0.0.1:\d+: Could not connect.*chroma run"):
        MemoryStore.open(tmp_path, url=f"http://127.0.0.1:{_free_port()}")


def test_embedding_model_change_needs_a_rebuild(tmp_path: Path) -> None:
    from memory.embeddings import resolve_model_path

    MemoryStore.open(tmp_path)
    same = MemoryStore.open(tmp_path, embedding_model=resolve_model_path(None))  # same model, other name
    assert same.counts()["candidates"] == 0
    with pytest.raises(ValueError, match="was embedded with 'all-MiniLM-L6-v2'.*memory rebuild"):
        MemoryStore.open(tmp_path, embedding_model="/models/other-minilm")
    other = MemoryStore.open(tmp_path, embedding_model="/models/other-minilm", check_model=False)
    other.clear()  # what rebuild does first: the collections now carry the new model
    ef = other._col("candidates").configuration_json["embedding_function"]
    assert ef["config"] == {"model": "/models/other-minilm"}
    with pytest.raises(ValueError, match="was embedded with '/models/other-minilm'"):
        MemoryStore.open(tmp_path)


def test_run_folder_deleted_and_made_again_in_one_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    MemoryStore.open(run).add_candidate(make_candidate("c0000", "slerp", 0.4))
    shutil.rmtree(run)  # e.g. a bench that reuses a run name
    run.mkdir()
    s = MemoryStore.open(run)
    assert s.counts()["candidates"] == 0
    s.add_candidate(make_candidate("c0001", "ties", 0.5))  # chroma's cached client would be read-only here
    assert set(s.candidates()) == {"c0001"}
    s.close()
    assert set(MemoryStore.open(str(run) + "/.").candidates()) == {"c0001"}  # same folder, other spelling
