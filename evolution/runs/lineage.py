"""The run's lineage: a bare git repository where every candidate is one commit.

Why git: the family tree of an evolution run is a DAG of snapshots with provenance, which is
exactly what git stores. `git log --graph --all --oneline` in the folder is the family tree,
`git diff A B -- recipe.py` is a mutation, `git log --format='%(trailers:key=Score,valueonly)'`
is a score table. Layout:

- `refs/heads/run`: the root commit "run <name>"; seed candidates are parented on it.
- one commit per candidate (failures too) with `recipe.py`, `plan.json` (absent when the recipe
  failed), `scores.json`, `candidate.md`, `candidate.json` (the full record, read back by
  `candidates()`), plus any extra files. Its git parents are its parent candidates' commits.
- `refs/candidates/<id>` for every candidate: nothing is ever unreachable, and it is the
  idempotency key (recording an id that has a ref returns the existing commit).
- `refs/heads/island/<k>`: the newest candidate of island k.
- `refs/heads/best` (HEAD points at it) and `refs/best/island-<k>`: the elite by fitness (the
  run objective on dev; the dev mean without one; test never selects); they move when a
  candidate beats the current elite strictly.
- `refs/heads/steering`: one commit per steering message (`record_steering`), and git notes
  under `refs/notes/<ref>` (`add_note`).

Single writer: only the session process writes; readers (CLI, memory rebuild) may run anytime.
"""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from evolution.runs.candidate import Candidate, SplitScores

if TYPE_CHECKING:
    import git

RECORD_FORMAT = "evomerge.candidate/1"
_ACTOR = ("evomerge", "evomerge@localhost")


class LineageError(RuntimeError):
    """The lineage repository cannot do what was asked; the message says why."""


def _id_key(cid: str) -> tuple[int, str]:
    """Natural order of ids like c0042 (shorter first), used to decide 'newest'."""
    return (len(cid), cid)


def scores_json(c: Candidate) -> str:
    """Dev and test per task (score, CI, per-item, answers) and their means; with a run
    objective, also its value (`fitness`) and description (`objective`) beside them."""

    def split(s: SplitScores | None) -> dict | None:
        if s is None:
            return None
        tasks = {name: t.model_dump(exclude={"answers"} if not t.answers else None) for name, t in s.tasks.items()}
        out: dict = {"mean": s.mean}
        if s.fitness is not None:
            out.update(fitness=s.fitness, objective=s.objective)
        return {**out, "tasks": tasks}

    return json.dumps({"status": c.status, "dev": split(c.dev), "test": split(c.test)}, indent=2) + "\n"


def _fmt_score(s: SplitScores | None) -> str:
    if s is None:
        return "—"
    parts = ", ".join(f"{k} {v:.4f}" for k, v in s.summary().items())
    return parts


def candidate_md(c: Candidate, offline: bool) -> str:
    """The human-readable note of one candidate."""
    lines = [f"# {c.id} (island {c.island}, generation {c.generation})", ""]
    lines.append(f"- status: {c.status}" + (f" — {c.error}" if c.error else ""))
    lines.append(f"- parents: {', '.join(c.parents) or 'none (seed)'}")
    lines.append(f"- operator: {c.operator or '—'}")
    who = c.proposer or "—"
    if offline:
        who += " (the offline proposer: structural code edits, not an LLM)"
    lines.append(f"- proposer: {who}")
    lines.append(f"- method family: {c.method_family or '—'}")
    lines.append(f"- plan hash: {c.plan_hash or '—'}")
    if c.tunables:
        lines.append("- tunables: " + ", ".join(f"{k}={v:g}" for k, v in sorted(c.tunables.items())))
    if c.dev is not None and c.dev.fitness is not None:
        lines.append(f"- fitness (selection maximizes it): {c.dev.fitness:.4f} = {c.dev.objective}")
    lines.append(f"- dev: {_fmt_score(c.dev)}")
    lines.append(f"- test (report only): {_fmt_score(c.test)}")
    if c.steering:
        lines.append(f"- steering in force: {', '.join(c.steering)}")
    if c.steering_ignored:
        lines.append(f"- steering ignored: {c.steering_ignored}")
    if c.timings:
        lines.append("- timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in c.timings.items()))
    cost = c.cost
    lines.append(
        f"- cost: {cost.prompt_tokens} prompt + {cost.completion_tokens} completion tokens,"
        f" ${cost.dollars:.4f}"
    )
    for title, text in (("Rationale", c.rationale), ("Reflection", c.reflection)):
        if text.strip():
            lines += ["", f"## {title}", "", text.strip()]
    return "\n".join(lines) + "\n"


def commit_message(c: Candidate, parent_best: float | None) -> str:
    """Summary line + trailers, e.g. 'c0042 island 1 ties dev 0.812 (+0.031)'."""
    family = c.method_family or c.operator or "recipe"
    head = f"{c.id} island {c.island} {family}"
    dev, fit = c.dev_mean, c.fitness
    objective = c.dev.objective if c.dev is not None and c.dev.fitness is not None and fit is not None else None
    if c.status == "failed":
        err = (c.error or "failed").strip().splitlines()[0] if (c.error or "").strip() else "failed"
        head += f" FAILED: {err[:72]}"
    elif c.status == "duplicate":
        head += " DUPLICATE"
    elif c.status == "stopped":
        partial = c.dev.fitness if c.dev is not None and c.dev.fitness is not None else (c.dev.mean if c.dev else 0.0)
        head += f" STOPPED after its dev subset ({partial:.3f} there)"
    elif fit is not None:
        head += f" {'fitness' if objective else 'dev'} {fit:.3f}"
        if parent_best is not None:
            head += f" ({fit - parent_best:+.3f})"
    trailers = [("Candidate", c.id), ("Parents", ", ".join(c.parents) or "none")]
    trailers.append(("Score", f"{dev:.6f}" if dev is not None else c.status))
    if objective and fit is not None:
        trailers += [("Fitness", f"{fit:.6f}"), ("Objective", objective)]
    if c.test is not None and c.status == "ok":
        trailers.append(("Test-Score", f"{c.test.mean:.6f}"))
    trailers += [("Island", str(c.island)), ("Status", c.status)]
    trailers += [("Proposer", c.proposer or "none"), ("Operator", c.operator or "none")]
    if c.steering:
        trailers.append(("Steering", ", ".join(c.steering)))
    body = ""
    if c.rationale.strip():
        body = c.rationale.strip().splitlines()[0][:200] + "\n\n"
    return head + "\n\n" + body + "\n".join(f"{k}: {v}" for k, v in trailers) + "\n"


class Lineage:
    """Writer and reader of one run's lineage repository. Open with `open_or_init`."""

    def __init__(self, repo: git.Repo, run_name: str) -> None:
        self.repo = repo
        self.run_name = run_name
        self.path = Path(repo.git_dir)
        self._refs: dict[str, str] = {}  # candidate id -> commit sha
        self._scores: dict[str, float | None] = {}  # candidate id -> fitness
        self._load_refs()

    # ----- opening -----
    @classmethod
    def open_or_init(cls, path: str | Path, run_name: str) -> Lineage:
        """Open the bare repository at `path`, creating it with its "run <name>" commit."""
        import git

        path = Path(path)
        if (path / "HEAD").exists():
            repo = git.Repo(path)
            if "refs/heads/run" not in {r.path for r in repo.references}:
                raise LineageError(
                    f"{path}: a git repository without a run root (refs/heads/run); not a lineage"
                )
            return cls(repo, run_name)
        path.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(path, bare=True)
        with repo.config_writer() as cw:
            cw.set_value("user", "name", _ACTOR[0])
            cw.set_value("user", "email", _ACTOR[1])
            cw.set_value("gc", "auto", "0")
        self = cls(repo, run_name)
        readme = (
            f"# Lineage of run {run_name}\n\n"
            "One commit per candidate. Branches island/<k> follow each island,\n"
            "`best` the elite by dev score. Try: git log --graph --all --oneline\n"
        )
        root = self._commit({"README.md": readme}, f"run {run_name}\n\nRun: {run_name}\n", [])
        self._set_ref("refs/heads/run", root)
        self._set_ref("refs/heads/best", root)  # `git log` works before the first candidate
        repo.git.symbolic_ref("HEAD", "refs/heads/best")
        return self

    def _load_refs(self) -> None:
        out = self.repo.git.for_each_ref("refs/candidates", format="%(refname:strip=2) %(objectname)")
        self._refs = dict(line.split(" ", 1) for line in out.splitlines() if line.strip())
        self._scores = {}

    # ----- low-level git objects -----
    def _blob(self, data: bytes) -> bytes:
        from gitdb import IStream

        return self.repo.odb.store(IStream(b"blob", len(data), BytesIO(data))).binsha

    def _tree(self, files: dict[str, str]) -> bytes:
        """Write a (possibly nested) tree; git sorts directory names as if they ended in '/'."""
        from git.objects.fun import tree_to_stream
        from gitdb import IStream

        entries: list[tuple[str, bytes, int, str]] = []
        subdirs: dict[str, dict[str, str]] = {}
        for name, text in files.items():
            head, _, rest = name.strip("/").partition("/")
            if rest:
                subdirs.setdefault(head, {})[rest] = text
            else:
                entries.append((head, self._blob(text.encode()), 0o100644, head))
        for name, sub in subdirs.items():
            entries.append((name + "/", self._tree(sub), 0o040000, name))
        entries.sort(key=lambda e: e[0].encode())
        buf = BytesIO()
        tree_to_stream([(sha, mode, name) for _, sha, mode, name in entries], buf.write)
        data = buf.getvalue()
        return self.repo.odb.store(IStream(b"tree", len(data), BytesIO(data))).binsha

    def _commit(self, files: dict[str, str], message: str, parents: list[str]) -> str:
        import git

        tree = git.Tree(self.repo, self._tree(files))
        actor = git.Actor(*_ACTOR)
        pcs = [self.repo.commit(p) for p in parents]
        c = git.Commit.create_from_tree(
            self.repo, tree, message, parent_commits=pcs, head=False, author=actor, committer=actor
        )
        return c.hexsha

    def _set_ref(self, ref: str, sha: str) -> None:
        self.repo.git.update_ref(ref, sha)

    def _ref_sha(self, ref: str) -> str | None:
        try:
            return self.repo.git.rev_parse("--verify", "-q", ref + "^{commit}")
        except Exception:  # noqa: BLE001 - git exits 1 when the ref is absent
            return None

    # ----- candidates -----
    def commit_of(self, cid: str) -> str | None:
        """The commit that recorded candidate `cid`, or None."""
        return self._refs.get(cid)

    def run_commit(self) -> str:
        sha = self._ref_sha("refs/heads/run")
        assert sha is not None
        return sha

    def record(self, candidate: Candidate, files: dict[str, str] | None = None) -> str:
        """Commit one candidate (idempotent: an id already recorded returns its commit).

        The parents must have been recorded before. Refs `island/<k>` and `best*` are
        refreshed even on a repeated call, so a crash between commit and ref update heals.
        """
        cid = candidate.id
        if not re.fullmatch(r"[A-Za-z0-9._-]+", cid) or cid.endswith((".lock", ".")):
            raise LineageError(f"candidate id {cid!r} is not usable as a git ref name")
        existing = self._refs.get(cid) or self._ref_sha(f"refs/candidates/{cid}")
        if existing:
            self._refs[cid] = existing
            stored = self.candidate(cid)
            self._update_island_refs(stored, existing)
            return existing
        from evolution.merge.faults import writing

        with writing(f"the lineage commit of {cid}", self.path):
            return self._record_new(candidate, files)

    def _record_new(self, candidate: Candidate, files: dict[str, str] | None) -> str:
        cid = candidate.id
        parent_shas: list[str] = []
        for pid in dict.fromkeys(candidate.parents):
            sha = self._refs.get(pid)
            if sha is None:
                raise LineageError(
                    f"{cid}: parent {pid} is not recorded in the lineage; record parents first"
                )
            parent_shas.append(sha)
        if not parent_shas:
            parent_shas = [self.run_commit()]
        parent_scores = [s for s in (self.fitness_of(p) for p in candidate.parents) if s is not None]
        rec = candidate.model_copy(update={"commit": None})
        tree: dict[str, str] = dict(files or {})
        tree["recipe.py"] = rec.recipe if rec.recipe.endswith("\n") or not rec.recipe else rec.recipe + "\n"
        if rec.plan_json:
            tree["plan.json"] = json.dumps(json.loads(rec.plan_json), indent=2, sort_keys=True) + "\n"
        tree["scores.json"] = scores_json(rec)
        offline = rec.proposer.startswith("offline/")
        tree["candidate.md"] = candidate_md(rec, offline)
        record = {"format": RECORD_FORMAT, "seq": len(self._refs), "candidate": rec.model_dump(mode="json")}
        tree["candidate.json"] = json.dumps(record, indent=2, sort_keys=True) + "\n"
        sha = self._commit(
            tree, commit_message(rec, max(parent_scores) if parent_scores else None), parent_shas
        )
        self._set_ref(f"refs/candidates/{cid}", sha)
        self._refs[cid] = sha
        self._scores[cid] = rec.fitness
        self._update_island_refs(rec, sha)
        return sha

    def heal(self) -> None:
        """Clear what a kill or a full disk can leave mid-write (one writer: the session holding
        the run's lock): stale ref locks, and objects no ref reaches (blobs or a commit written
        before its ref). A record re-run after that writes its candidate afresh."""
        for pattern in ("refs/**/*.lock", "*.lock"):
            for lock in self.path.glob(pattern):
                lock.unlink(missing_ok=True)
        self.repo.git.prune("--expire=now")

    def _update_island_refs(self, c: Candidate, sha: str) -> None:
        branch = f"refs/heads/island/{c.island}"
        tip = self._ref_sha(branch)
        tip_id = self._id_at(tip) if tip else None
        if tip_id is None or _id_key(tip_id) <= _id_key(c.id):
            self._set_ref(branch, sha)
        score = c.fitness
        if score is None:
            return
        for ref in ("refs/heads/best", f"refs/best/island-{c.island}"):
            cur = self._ref_sha(ref)
            cur_id = self._id_at(cur) if cur else None
            cur_score = self.fitness_of(cur_id) if cur_id else None
            if cur_score is None or score > cur_score or cur_id == c.id:
                self._set_ref(ref, sha)

    def _id_at(self, sha: str) -> str | None:
        for cid, s in self._refs.items():
            if s == sha:
                return cid
        return None

    def fitness_of(self, cid: str) -> float | None:
        """Fitness of a recorded candidate (None when failed or unknown); cached."""
        if cid not in self._scores:
            self._scores[cid] = self.candidate(cid).fitness if cid in self._refs else None
        return self._scores[cid]

    def _read(self, sha: str, path: str) -> str | None:
        try:
            return self.repo.git.show(f"{sha}:{path}", strip_newline_in_stdout=False)
        except Exception:  # noqa: BLE001 - the file is absent from this commit
            return None

    def candidate(self, cid: str) -> Candidate:
        """One recorded candidate, with `.commit` set."""
        sha = self._refs.get(cid)
        if sha is None:
            raise LineageError(f"candidate {cid} is not in the lineage")
        return self._parse(sha)[1]

    def _parse(self, sha: str) -> tuple[int, Candidate]:
        blob = self.repo.commit(sha).tree / "candidate.json"
        rec = json.loads(blob.data_stream.read())
        if rec.get("format") != RECORD_FORMAT:
            raise LineageError(f"commit {sha[:10]}: unknown candidate record format {rec.get('format')!r}")
        c = Candidate.model_validate(rec["candidate"]).model_copy(update={"commit": sha})
        return int(rec.get("seq", 0)), c

    def reload(self) -> dict[str, str]:
        """Re-read the candidate refs (for a reader following a session that writes); returns
        candidate id -> commit sha."""
        self._load_refs()
        return dict(self._refs)

    def read_record(self, sha: str) -> tuple[int, Candidate]:
        """(record order, candidate) stored in one candidate commit."""
        return self._parse(sha)

    def candidates(self) -> list[Candidate]:
        """Every recorded candidate in record order (for resume and memory rebuild)."""
        parsed = [self._parse(sha) for sha in self._refs.values()]
        parsed.sort(key=lambda p: (p[0], _id_key(p[1].id)))
        for _, c in parsed:
            self._scores[c.id] = c.fitness
        return [c for _, c in parsed]

    def best(self, island: int | None = None) -> Candidate | None:
        """The elite by fitness (overall or of one island), or None before any scored one."""
        ref = "refs/heads/best" if island is None else f"refs/best/island-{island}"
        sha = self._ref_sha(ref)
        cid = self._id_at(sha) if sha else None
        return self.candidate(cid) if cid else None

    # ----- notes and steering -----
    def add_note(self, commit: str, text: str, ref: str = "steering") -> None:
        """Append a git note (refs/notes/<ref>) to a commit; the same text twice is kept once."""
        try:
            current = self.repo.git.notes(f"--ref={ref}", "show", commit)
        except Exception:  # noqa: BLE001 - no note yet
            current = ""
        if text.strip() in current:
            return
        self.repo.git.notes(f"--ref={ref}", "append", "-m", text, commit)

    def all_notes(self, blobs: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        """Every git note, as notes ref name -> {commit sha: text} (one git call, plus one per ref).
        `blobs` (note blob sha -> text) is a cache a repeated reader keeps: blobs never change."""
        cache = {} if blobs is None else blobs
        refs = self.repo.git.for_each_ref("refs/notes", format="%(refname:strip=2)").split()
        out: dict[str, dict[str, str]] = {}
        for ref in refs:
            pairs = [line.split() for line in self.repo.git.notes(f"--ref={ref}", "list").splitlines()]
            out[ref] = {}
            for blob, commit in (p for p in pairs if len(p) == 2):
                if blob not in cache:
                    cache[blob] = self.repo.odb.stream(bytes.fromhex(blob)).read().decode()
                out[ref][commit] = cache[blob]
        return out

    def notes(self, commit: str, ref: str = "steering") -> str:
        try:
            return self.repo.git.notes(f"--ref={ref}", "show", commit)
        except Exception:  # noqa: BLE001 - no note
            return ""

    def record_steering(self, message_id: str, text: str) -> str:
        """One commit per steering message on branch `steering` (idempotent by id)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", message_id):
            raise LineageError(f"steering id {message_id!r} is not usable as a git ref name")
        existing = self._ref_sha(f"refs/steering/{message_id}")
        if existing:
            return existing
        parent = self._ref_sha("refs/heads/steering") or self.run_commit()
        first = text.strip().splitlines()[0][:60] if text.strip() else ""
        msg = f"steering {message_id}: {first}\n\n{text.strip()}\n\nSteering-Id: {message_id}\n"
        prev = self._read(parent, "steering.md") or ""
        sha = self._commit({"steering.md": prev + f"- {message_id}: {text.strip()}\n"}, msg, [parent])
        self._set_ref(f"refs/steering/{message_id}", sha)
        self._set_ref("refs/heads/steering", sha)
        return sha

    def steering_messages(self) -> list[tuple[str, str]]:
        """(id, text) of every recorded steering message, oldest first."""
        tip = self._ref_sha("refs/heads/steering")
        if tip is None:
            return []
        out = self.repo.git.log(tip, "--reverse", "--format=%(trailers:key=Steering-Id,valueonly)%x00%b%x01")
        msgs = []
        for entry in out.split("\x01"):
            if "\x00" not in entry:
                continue
            mid, body = entry.split("\x00", 1)
            text = body.rsplit("Steering-Id:", 1)[0].strip()
            if mid.strip():
                msgs.append((mid.strip(), text))
        return msgs
