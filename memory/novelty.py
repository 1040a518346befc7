"""Novelty check before evaluation: never pay twice for the same merge.

Two gates (ShinkaEvolve's novelty rejection, adapted to plans):
1. the plan hash was already evaluated → reject (the node records a `duplicate`, no scoring);
2. the candidate's description embeds near-identically to an evaluated candidate's → send it
   back to the proposer with feedback naming the twin, unless the proposal explains what differs
   (a bounded number of retries is the session's business).
"Near-identical" needs both: cosine similarity ≥ `threshold` on the offline MiniLM embeddings of
`candidate_document` (same structure in words), and, when both plans are known, every number of
the plan (model shares, parameters, scales) within `numeric_tol` — sentence embeddings barely see
numbers, so without this a changed weight would always look like a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from evolution.runs.candidate import Candidate

DEFAULT_THRESHOLD = 0.985
DEFAULT_NUMERIC_TOL = 0.05
MIN_EXPLANATION_WORDS = 5
Action = Literal["accept", "reject", "retry"]


@dataclass
class NoveltyVerdict:
    """`accept`: evaluate it; `reject`: same plan already evaluated; `retry`: ask the proposer again."""

    action: Action
    reason: str
    duplicate_of: str | None = None
    similarity: float | None = None
    feedback: str = ""  # for the proposer's next attempt when action == "retry"

    @property
    def ok(self) -> bool:
        return self.action == "accept"


def explains_difference(explanation: str | None) -> bool:
    """A real explanation, not an empty or one-word rationale."""
    return bool(explanation) and len(str(explanation).split()) >= MIN_EXPLANATION_WORDS


def check(
    store: Any,
    *,
    plan_hash: str | None,
    document: str,
    explanation: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seen_hashes: Iterable[str] = (),
    exclude_ids: Iterable[str] = (),
    use_embedding: bool = True,
    signature: dict[str, float] | None = None,
    numeric_tol: float = DEFAULT_NUMERIC_TOL,
) -> NoveltyVerdict:
    """Judge one proposal against what was already evaluated.

    `store` is a `MemoryStore` (or None: then only `seen_hashes` count); `document` is the
    proposal's `candidate_document`; `explanation` is the proposer's own account of what differs
    from earlier recipes (its rationale on a retry). `use_embedding=False` skips gate 2, e.g.
    for CMA-ES polish, which changes only constants on purpose. `signature` is the proposal's
    `plan_signature`; with it, a twin whose numbers differ by more than `numeric_tol` is not one.
    """
    skip = set(exclude_ids)
    if plan_hash:
        if plan_hash in set(seen_hashes):
            return NoveltyVerdict("reject", f"plan {plan_hash[:12]} was already evaluated")
        if store is not None:
            twins = [i for i in store.find_plan_hash(plan_hash) if i not in skip]
            evaluated = [i for i in twins if _status(store, i) != "duplicate"]
            if evaluated:
                return NoveltyVerdict(
                    "reject",
                    f"plan {plan_hash[:12]} was already evaluated as {evaluated[0]}",
                    evaluated[0],
                    1.0,
                )
    if store is None or not use_embedding or not document.strip():
        return NoveltyVerdict("accept", "new plan hash")
    hits = [h for h in store.similar_candidates(document, k=5) if h.id not in skip]
    hits = [h for h in hits if h.metadata.get("status") != "duplicate"]
    best_sim = hits[0].similarity if hits else None
    twins = [
        h for h in hits if (h.similarity or 0.0) >= threshold and _numbers_close(h, signature, numeric_tol)
    ]
    if not twins:
        return NoveltyVerdict("accept", "new plan, not near any evaluated recipe", similarity=best_sim)
    twin = twins[0]
    sim = float(twin.similarity or 0.0)
    if explains_difference(explanation):
        why = f"near-duplicate of {twin.id} (similarity {sim:.3f}) but the proposal explains the difference"
        return NoveltyVerdict("accept", why, twin.id, sim)
    md = twin.metadata
    outcome = f"dev {float(md['dev']):.3f}" if "dev" in md else md.get("status", "?")
    feedback = (
        f"Your recipe is nearly identical (similarity {sim:.3f} ≥ {threshold}) to {twin.id}, "
        f"which was already evaluated ({outcome}): {twin.document[:400]}\nChange the merge "
        "substantively, or state explicitly what differs and why it should behave differently."
    )
    why = f"near-duplicate of {twin.id} (similarity {sim:.3f})"
    return NoveltyVerdict("retry", why, twin.id, sim, feedback)


def _numbers_close(hit: Any, signature: dict[str, float] | None, tol: float) -> bool:
    """True unless both signatures are known and differ (in structure or by more than `tol`)."""
    if not signature or not hit.metadata.get("plan_sig"):
        return True
    from memory.reflection import signature_distance

    dist = signature_distance(signature, json.loads(hit.metadata["plan_sig"]))
    return dist is not None and dist <= tol


def check_candidate(
    store: Any,
    candidate: Candidate,
    explanation: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seen_hashes: Iterable[str] = (),
    use_embedding: bool = True,
    numeric_tol: float = DEFAULT_NUMERIC_TOL,
) -> NoveltyVerdict:
    """`check` for a proposed (not yet scored) candidate; it is never compared with itself."""
    from memory.reflection import plan_signature
    from memory.store import candidate_document

    return check(
        store,
        plan_hash=candidate.plan_hash,
        document=candidate_document(candidate),
        explanation=explanation,
        threshold=threshold,
        seen_hashes=seen_hashes,
        exclude_ids=[candidate.id],
        use_embedding=use_embedding,
        signature=plan_signature(candidate.plan_json) if candidate.plan_json else None,
        numeric_tol=numeric_tol,
    )


def _status(store: Any, cid: str) -> str:
    hits = store.get("candidates", ids=[cid])
    return str(hits[0].metadata.get("status", "")) if hits else ""
