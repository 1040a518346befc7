"""The run's Chroma memory: past candidates, lessons (reflections) and steering messages.

Embedded `PersistentClient` at `RUN/memory` by default; a Chroma server (`chromadb.HttpClient`)
when the run config says `memory: {url: http://HOST:PORT}`. The embedded store loses writes
with several writer processes, so the session is the only writer; `evomerge steer` writes the
steering JSONL, never Chroma. Every write is an upsert keyed by a stable id, so a resumed node
that records the same candidate again changes nothing. Embeddings come from
`memory.embeddings` (offline MiniLM), never from Chroma's downloading default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evolution.runs.candidate import Candidate
from memory import embeddings

COLLECTIONS = ("candidates", "lessons", "steering")
LESSON_KINDS = ("lesson", "meta")


@dataclass
class Hit:
    """One stored record, with its cosine distance to the query when it came from a search."""

    id: str
    document: str
    metadata: dict[str, Any] = field(default_factory=dict)
    distance: float | None = None

    @property
    def similarity(self) -> float | None:
        return None if self.distance is None else 1.0 - self.distance


def candidate_metadata(c: Candidate) -> dict[str, Any]:
    """Scalar metadata for Chroma (no None, no lists): ids, scores, provenance."""
    meta: dict[str, Any] = {
        "id": c.id,
        "commit": c.commit or "",
        "status": c.status,
        "island": c.island,
        "generation": c.generation,
        "parents": ",".join(c.parents),
        "plan_hash": c.plan_hash or "",
        "method_family": c.method_family,
        "operator": c.operator,
        "proposer": c.proposer,
        "steering": ",".join(c.steering),
    }
    if c.dev is not None and c.dev.tasks:
        meta["dev"] = float(c.dev.mean)
        meta.update({f"dev_{t}": float(r.score) for t, r in c.dev.tasks.items()})
    if c.test is not None and c.test.tasks:
        meta["test"] = float(c.test.mean)
    if c.plan_json:
        from memory.reflection import plan_signature

        meta["plan_sig"] = json.dumps(plan_signature(c.plan_json), sort_keys=True, separators=(",", ":"))
    if c.error:
        meta["error"] = c.error.strip().splitlines()[0][:300] if c.error.strip() else ""
    return meta


def candidate_document(c: Candidate) -> str:
    """What a candidate is, in words, for embedding: method family and plan summary, no outcome.

    The outcome lives in metadata, so a fresh (unscored) candidate's document is comparable
    with stored ones; novelty relies on that.
    """
    from memory.reflection import summarize_plan

    head = f"{c.method_family or 'unknown'} merge"  # no operator: the same merge reads the same
    if c.plan_json:
        body = summarize_plan(c.plan_json)
    else:
        body = "recipe without a plan: " + " ".join(c.recipe.split())[:600]
    if c.tunables:
        body += "; tunables " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(c.tunables.items()))
    return f"{head}: {body}"


def _hits(res: dict[str, Any], with_distance: bool) -> list[Hit]:
    """Flatten a Chroma get()/query() result into Hits."""
    ids = res.get("ids") or []
    if with_distance:
        ids = ids[0] if ids else []
        docs = (res.get("documents") or [[]])[0] or []
        metas = (res.get("metadatas") or [[]])[0] or []
        dists = (res.get("distances") or [[]])[0] or []
    else:
        docs = res.get("documents") or []
        metas = res.get("metadatas") or []
        dists = []
    out = []
    for i, id_ in enumerate(ids):
        out.append(
            Hit(
                id=id_,
                document=(docs[i] if i < len(docs) else "") or "",
                metadata=dict(metas[i] or {}) if i < len(metas) else {},
                distance=float(dists[i]) if i < len(dists) else None,
            )
        )
    return out


def _forget_cached_client(path: str) -> None:
    """Drop chromadb's in-process client for a folder whose database is gone (a run folder deleted
    and made again in the same process); reusing it fails with "attempt to write a readonly database"."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # noqa: BLE001 - its files are gone already; nothing to flush
            pass


class MemoryStore:
    """Three Chroma collections behind one small API; see the module docstring."""

    def __init__(self, client: Any, embedding_model: str, location: str, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix  # a shared server holds many runs: their collections are "<run>.<name>"
        self.embedding_model = embedding_model
        self.location = location
        self._ef = embeddings.make_embedding_function(embedding_model)
        self._cols: dict[str, Any] = {}
        self._qcache: dict[str, list[float]] = {}

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        url: str | None = None,
        embedding_model: str | None = None,
        check_model: bool = True,
    ) -> MemoryStore:
        """Open (creating if needed) the memory of a run: embedded at RUN/memory, or the server at `url`.

        A memory embedded with another model is an error (vectors of two models do not compare)
        unless `check_model=False`, which rebuild uses before it re-embeds everything.
        """
        import chromadb
        from chromadb.config import Settings

        embeddings.register()  # before any collection is opened: lets chromadb rebuild our EF
        model = embedding_model or embeddings.DEFAULT_MODEL
        settings = Settings(anonymized_telemetry=False)  # the same everywhere: chromadb refuses a mix
        if url:
            u = urlparse(url if "://" in url else f"http://{url}")
            if not u.hostname:
                raise ValueError(f"memory.url {url!r}: expected http://HOST:PORT")
            try:
                client = chromadb.HttpClient(
                    host=u.hostname,
                    port=u.port or (443 if u.scheme == "https" else 8000),
                    ssl=u.scheme == "https",
                    settings=settings,
                )
            except ValueError as e:
                raise ValueError(
                    f"memory.url {url}: {e} (start one with `chroma run --path DIR --host HOST --port PORT`, "
                    "or remove memory.url to use the embedded store)"
                ) from None
            location = url
            prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", Path(run_dir).resolve().name).strip("._-") or "run"
            prefix += "."
        else:
            prefix = ""
            path = Path(run_dir).resolve() / "memory"  # one identifier per folder for chroma's cache
            if not (path / "chroma.sqlite3").exists():
                _forget_cached_client(str(path))
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=settings)
            location = str(path)
        store = cls(client, model, location, prefix)
        for name in COLLECTIONS:
            store._col(name)
            if check_model:
                store._check_model(name)
        return store

    def _check_model(self, name: str) -> None:
        ef = (self._col(name).configuration_json or {}).get("embedding_function") or {}
        stored = (ef.get("config") or {}).get("model")
        if ef.get("name") != embeddings.EF_NAME or stored is None:
            raise ValueError(
                f"memory at {self.location}: collection {name!r} was not made by evomerge "
                f"(embedding function {ef.get('name')!r}); rebuild it with `evomerge memory rebuild`"
            )
        if embeddings.resolve_model_path(stored) != embeddings.resolve_model_path(self.embedding_model):
            raise ValueError(
                f"memory at {self.location} was embedded with {stored!r}, the run config asks for "
                f"{self.embedding_model!r}; re-embed it with `evomerge memory rebuild`"
            )

    @classmethod
    def open_for_run(cls, run_dir: str | Path) -> MemoryStore:
        """Open with the `memory:` settings (url, embedding) of RUN/config.yaml, if any."""
        import yaml

        cfg_path = Path(run_dir) / "config.yaml"
        mem: dict[str, Any] = {}
        if cfg_path.is_file():
            data = yaml.safe_load(cfg_path.read_text()) or {}
            mem = data.get("memory") or {} if isinstance(data, dict) else {}
        return cls.open(run_dir, url=mem.get("url"), embedding_model=mem.get("embedding"))

    def _col(self, name: str) -> Any:
        if name not in COLLECTIONS:
            raise ValueError(f"unknown memory collection {name!r} (have: {', '.join(COLLECTIONS)})")
        if name not in self._cols:
            try:
                self._cols[name] = self.client.get_or_create_collection(
                    name=self.prefix + name,
                    embedding_function=self._ef,
                    configuration={"hnsw": {"space": "cosine"}},
                )
            except ValueError as e:
                raise ValueError(
                    f"memory at {self.location}: collection {name!r} cannot be opened with embedding model "
                    f"{self.embedding_model!r} ({e}); rebuild it with `evomerge memory rebuild`"
                ) from None
        return self._cols[name]

    # ------------------------------------------------------------------ writes (upserts)

    def _upsert(
        self, name: str, ids: list[str], documents: list[str], metadatas: list[dict[str, Any]]
    ) -> None:
        """Upsert that replaces metadata: Chroma merges keys, so keys gone from a record are set to None."""
        col = self._col(name)
        old = {h.id: h.metadata for h in _hits(col.get(ids=ids, include=["metadatas"]), with_distance=False)}
        metas = [{**dict.fromkeys(old.get(i, {})), **m} for i, m in zip(ids, metadatas, strict=True)]
        col.upsert(ids=ids, documents=documents, metadatas=metas)

    def add_candidate(self, c: Candidate, document: str | None = None) -> None:
        """Store (or replace) a candidate by its id."""
        self._upsert("candidates", [c.id], [document or candidate_document(c)], [candidate_metadata(c)])

    def add_candidates(self, cands: list[Candidate], batch: int = 64) -> None:
        """Batched `add_candidate` (rebuild, repair): one embedding call per batch."""
        for i in range(0, len(cands), batch):
            part = cands[i : i + batch]
            self._upsert(
                "candidates",
                [c.id for c in part],
                [candidate_document(c) for c in part],
                [candidate_metadata(c) for c in part],
            )

    def add_lesson(self, candidate_id: str, text: str, kind: str = "lesson", **meta: Any) -> str:
        """Store a lesson about a candidate, or a meta-summary (`kind="meta"`); returns its id."""
        if kind not in LESSON_KINDS:
            raise ValueError(f"lesson kind must be one of {LESSON_KINDS}, got {kind!r}")
        lesson_id = f"{kind}:{candidate_id}"
        md = {"candidate": candidate_id, "kind": kind}
        md.update({k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))})
        self._upsert("lessons", [lesson_id], [text], [md])
        return lesson_id

    def add_lessons(self, items: list[tuple[str, str]], kind: str = "lesson") -> None:
        """Batched `add_lesson` for (candidate_id, text) pairs (rebuild, repair)."""
        if kind not in LESSON_KINDS:
            raise ValueError(f"lesson kind must be one of {LESSON_KINDS}, got {kind!r}")
        if items:
            ids = [f"{kind}:{cid}" for cid, _ in items]
            metas = [{"candidate": cid, "kind": kind} for cid, _ in items]
            self._upsert("lessons", ids, [text for _, text in items], metas)

    def add_steering(self, msg: Any) -> None:
        """Store a steering message (a `SteeringMessage` or a dict with id, time, text)."""
        d = msg.to_dict() if hasattr(msg, "to_dict") else dict(msg)
        md = {
            "id": str(d["id"]),
            "time": float(d.get("time", 0.0)),
            "source": str(d.get("source", "cli")),
            "applied_to": ",".join(d.get("applied_to") or []),
        }
        self._upsert("steering", [str(d["id"])], [str(d["text"])], [md])

    # ------------------------------------------------------------------ reads

    def _embed_query(self, text: str) -> list[float]:
        """The query's embedding, remembered for a few queries: one proposal asks lessons and
        candidates with the same text."""
        if text not in self._qcache:
            if len(self._qcache) >= 16:
                self._qcache.pop(next(iter(self._qcache)))
            self._qcache[text] = embeddings.embed([text], self.embedding_model)[0]
        return self._qcache[text]

    def _query(self, name: str, text: str, k: int, where: dict[str, Any] | None) -> list[Hit]:
        col = self._col(name)
        n = col.count()
        if n == 0 or k <= 0:
            return []
        kwargs: dict[str, Any] = {"query_embeddings": [self._embed_query(text)], "n_results": min(k, n)}
        if where:
            kwargs["where"] = where
        return _hits(col.query(**kwargs), with_distance=True)

    def similar_candidates(self, text: str, k: int = 5, where: dict[str, Any] | None = None) -> list[Hit]:
        """The k stored candidates closest to `text` (a recipe summary, a plan, a question)."""
        return self._query("candidates", text, k, where)

    def relevant_lessons(self, text: str, k: int = 5, kind: str | None = None) -> list[Hit]:
        """The k lessons closest to `text`; `kind` limits to "lesson" or "meta"."""
        return self._query("lessons", text, k, {"kind": kind} if kind else None)

    def search(
        self, text: str, k: int = 5, collections: tuple[str, ...] = COLLECTIONS
    ) -> dict[str, list[Hit]]:
        """Nearest records in each collection, for `evomerge memory search`."""
        return {name: self._query(name, text, k, None) for name in collections}

    def get(self, name: str, ids: list[str] | None = None, where: dict[str, Any] | None = None) -> list[Hit]:
        """Records of one collection without a query (all of them when no ids or filter)."""
        kwargs: dict[str, Any] = {"include": ["documents", "metadatas"]}
        if ids is not None:
            kwargs["ids"] = ids
        if where:
            kwargs["where"] = where
        return _hits(self._col(name).get(**kwargs), with_distance=False)

    def candidates(self) -> dict[str, dict[str, Any]]:
        """id → metadata of every stored candidate."""
        return {h.id: h.metadata for h in self.get("candidates")}

    def lessons(self, kind: str | None = None) -> list[Hit]:
        return self.get("lessons", where={"kind": kind} if kind else None)

    def find_plan_hash(self, plan_hash: str) -> list[str]:
        """Ids of stored candidates with this plan hash."""
        if not plan_hash:
            return []
        return [h.id for h in self.get("candidates", where={"plan_hash": plan_hash})]

    def counts(self) -> dict[str, int]:
        return {name: self._col(name).count() for name in COLLECTIONS}

    # ------------------------------------------------------------------ maintenance

    def close(self) -> None:
        """Release the client (the embedded database's handles once no other store uses them)."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
        self._cols.clear()

    def delete(self, name: str, ids: list[str]) -> None:
        if ids:
            self._col(name).delete(ids=ids)

    def clear(self) -> None:
        """Drop and recreate every collection (rebuild starts from this)."""
        for name in COLLECTIONS:
            try:
                self.client.delete_collection(self.prefix + name)
            except Exception:  # noqa: BLE001 - absent already is fine; chromadb's error types vary
                pass
            self._cols.pop(name, None)
            self._col(name)
