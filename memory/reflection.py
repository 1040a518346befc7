"""Reflection without an LLM: lessons from parent → child, meta-summaries, and prompt context.

"Evolution of Thought" asks why a change helped or hurt. Offline we can still say exactly what
changed (methods, per-model weights, layer sources) and what it did to every task, which is
what a proposer needs next time. Every N candidates a meta-summary (what works, dead ends,
recommendations) is rebuilt from memory alone, so it survives resume and `memory rebuild`.
`memory_context` gathers, for one proposal, the steering in force, the latest meta-summary,
the most relevant lessons and the most similar past candidates with their outcomes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from evolution.merge.plan_shares import group_shares, load_plan, param_at
from evolution.runs.candidate import Candidate


def _fmt_param(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}"
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return f"[{value[0]:.2f}..{value[-1]:.2f}]"
    if isinstance(value, list):
        return "per-module rules"
    return str(value)


def _describe_group(g: dict[str, Any], index: int | None, plan_base: str | None = None) -> str:
    parts = []
    for s in g.get("sources") or []:
        src = s["model"]
        if index is not None and s.get("layer") is not None and s["layer"] != index:
            src += f"@L{s['layer']}"
        sp = s.get("params") or {}
        if sp:
            src += "(" + ", ".join(f"{k}={_fmt_param(v)}" for k, v in sorted(sp.items())) + ")"
        parts.append(src)
    text = f"{g.get('method', '?')}[{', '.join(parts)}]"
    params = g.get("params") or {}
    if params:
        text += " " + ", ".join(f"{k}={_fmt_param(v)}" for k, v in sorted(params.items()))
    if g.get("base") and g["base"]["model"] != plan_base:  # the plan's own base goes without saying
        text += f" base={g['base']['model']}"
    if float(g.get("residual_scale", 1.0)) != 1.0:
        text += f" scale={float(g['residual_scale']):.2f}"
    return text


def summarize_plan(plan: str | dict[str, Any] | None) -> str:
    """A compact text of a plan: per layer range the method, sources and parameters. Embeddings
    that follow the first layers and norm/head that follow the last (the usual case) go unsaid."""
    data = load_plan(plan)
    if not data:
        return "no plan"
    layers = data.get("layers") or []
    base = data.get("base_model")
    runs: list[tuple[int, int, str]] = []
    for i, g in enumerate(layers):
        desc = _describe_group(g, i, base)
        if runs and runs[-1][2] == desc:
            runs[-1] = (runs[-1][0], i, desc)
        else:
            runs.append((i, i, desc))
    parts = [f"layers {a}-{b}: {d}" if a != b else f"layer {a}: {d}" for a, b, d in runs]
    like_layers = {d: f"layers {a}-{b}" if a != b else f"layer {a}" for a, b, d in runs}
    usual = {"embed": runs[0][2] if runs else None, "norm": runs[-1][2] if runs else None}
    usual["head"] = usual["norm"]
    same: dict[str, list[str]] = defaultdict(list)
    for name in ("embed", "norm", "head"):
        if not data.get(name):
            continue
        desc = _describe_group(data[name], None, base)
        if desc == usual[name]:
            continue
        if desc in like_layers:  # say which layers it follows instead of repeating the recipe
            same[like_layers[desc]].append(name)
        else:
            parts.append(f"{name}: {desc}")
    parts += [f"{', '.join(names)} as {where}" for where, names in same.items()]
    return f"{len(layers)} layers; " + "; ".join(parts)


def plan_signature(plan: str | dict[str, Any] | None) -> dict[str, float]:
    """The plan's numbers by position (model shares, scalar params, scales): novelty compares these,
    since sentence embeddings barely see numbers."""
    data = load_plan(plan)
    if not data:
        return {}
    layers = data.get("layers") or []
    groups = [("embed", data.get("embed"), 0.0)]
    groups += [(f"L{i}", g, i / max(len(layers) - 1, 1)) for i, g in enumerate(layers)]
    groups += [("norm", data.get("norm"), 1.0), ("head", data.get("head"), 1.0)]
    sig: dict[str, float] = {}
    for name, g, t in groups:
        if not g:
            continue
        for m, share in group_shares(g, t).items():
            sig[f"{name}.{m}"] = round(share, 4)
        for k, v in (g.get("params") or {}).items():
            x = param_at(v, t)
            if x is not None:
                sig[f"{name}.{k}"] = round(x, 4)
        for j, src in enumerate(g.get("sources") or []):
            for k, v in (src.get("params") or {}).items():
                x = param_at(v, t)
                if x is not None:
                    sig[f"{name}.{j}.{k}"] = round(x, 4)
        sig[f"{name}.scale"] = float(g.get("residual_scale", 1.0))
    return sig


def signature_distance(a: dict[str, float], b: dict[str, float]) -> float | None:
    """Largest numeric difference between two signatures; None when their structure differs."""
    if not a or not b or set(a) != set(b):
        return None
    return max(abs(a[k] - b[k]) for k in a)


def _ranges(idx: list[int]) -> str:
    out: list[str] = []
    for i in sorted(idx):
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)  # type: ignore[assignment]
        else:
            out.append((i, i))  # type: ignore[arg-type]
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out)  # type: ignore[misc]


def _where(idx: list[int]) -> str:
    """ "layer 3", "layers 2-3" or "layers 0, 2-3"."""
    text = _ranges(idx)
    return f"layer {text}" if text.isdigit() else f"layers {text}"


def plan_changes(parent: str | dict[str, Any] | None, child: str | dict[str, Any] | None) -> list[str]:
    """What changed from one plan to another: methods, model shares and layer sources by layer range."""
    p, c = load_plan(parent), load_plan(child)
    if p is None or c is None:
        return ["no plan to compare"]
    pl, cl = p.get("layers") or [], c.get("layers") or []
    out: list[str] = []
    if len(pl) != len(cl):
        out.append(f"depth {len(pl)} → {len(cl)} layers")
    n = min(len(pl), len(cl))
    methods: dict[tuple[str, str], list[int]] = defaultdict(list)
    shares: dict[tuple[str, str], list[int]] = defaultdict(list)
    share_vals: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    sources: list[int] = []
    for i in range(n):
        a, b = pl[i], cl[i]
        t = i / max(n - 1, 1)
        if a.get("method") != b.get("method"):
            methods[(a.get("method", "?"), b.get("method", "?"))].append(i)
        if [(s["model"], s.get("layer")) for s in a.get("sources", [])] != [
            (s["model"], s.get("layer")) for s in b.get("sources", [])
        ]:
            sources.append(i)
        sa, sb = group_shares(a, t), group_shares(b, t)
        for m in sorted(set(sa) | set(sb)):
            d = sb.get(m, 0.0) - sa.get(m, 0.0)
            if abs(d) >= 0.05:
                key = (m, "more" if d > 0 else "less")
                shares[key].append(i)
                share_vals[key].append((sa.get(m, 0.0), sb.get(m, 0.0)))
    for (ma, mb), idx in methods.items():
        out.append(f"{_where(idx)}: method {ma} → {mb}")
    for (m, direction), idx in shares.items():
        vals = share_vals[(m, direction)]
        before = sum(v[0] for v in vals) / len(vals)
        after = sum(v[1] for v in vals) / len(vals)
        out.append(f"{direction} weight for {m} in {_where(idx)} (share {before:.2f} → {after:.2f})")
    if sources:
        out.append(f"{_where(sources)}: different source models/layers")
    swaps: dict[str, list[str]] = defaultdict(list)
    for name in ("embed", "norm", "head"):
        if (p.get(name) or {}).get("method") != (c.get(name) or {}).get("method") and c.get(name):
            swaps[f"method {(p.get(name) or {}).get('method')} → {c[name].get('method')}"].append(name)
    out += [f"{', '.join(names)}: {change}" for change, names in swaps.items()]
    if not out and p != c:
        out.append("only parameters changed: " + summarize_plan(c)[:300])
    return out or ["no change to the plan"]


def task_deltas(parent: Candidate | None, child: Candidate) -> list[tuple[str, float | None, float]]:
    """(task, parent dev score or None, child dev score) for every task the child was scored on."""
    if child.dev is None:
        return []
    pt = parent.dev.tasks if parent is not None and parent.dev is not None else {}
    return [(t, pt[t].score if t in pt else None, r.score) for t, r in child.dev.tasks.items()]


def offline_lesson(parent: Candidate | None, child: Candidate, other_parent: Candidate | None = None) -> str:
    """A templated lesson: what changed from parent to child and what it did to each task."""
    how = f"{child.operator or 'proposal'}" + (f" by {child.proposer}" if child.proposer else "")
    head = f"{child.id} ({child.method_family or '?'}, {how})"
    if child.status != "ok":
        err = (child.error or "no error text").strip().splitlines()
        reason = err[0][:200] if err else "no error text"
        src = f" from {parent.id}" if parent else ""
        return (
            f"{head}{src} {child.status}: {reason}. Lesson: do not repeat this recipe; fix the cause first."
        )
    if parent is None or parent.dev_mean is None:
        scores = ", ".join(f"{t} {s:.3f}" for t, _, s in task_deltas(None, child))
        plan = summarize_plan(child.plan_json)
        return f"{head}: dev mean {child.dev_mean or 0.0:.3f} ({scores}). Plan: {plan}"
    if other_parent is not None and (other_parent.dev_mean or -1e9) > (parent.dev_mean or -1e9):
        parent, other_parent = other_parent, parent
    dp, dc = parent.dev_mean or 0.0, child.dev_mean or 0.0
    delta = dc - dp
    verdict = "helped" if delta > 0.005 else "hurt" if delta < -0.005 else "made no difference"
    changes = plan_changes(parent.plan_json, child.plan_json)
    per_task = []
    gains, losses = [], []
    for t, before, after in task_deltas(parent, child):
        if before is None:
            per_task.append(f"{t} {after:.3f} (new)")
            continue
        d = after - before
        per_task.append(f"{t} {before:.3f} → {after:.3f} ({d:+.3f})")
        (gains if d > 0.005 else losses if d < -0.005 else []).append(t)
    cross = f" crossed with {other_parent.id}" if other_parent is not None else ""
    lines = [
        f"{head} from {parent.id}{cross}: dev mean {dp:.3f} → {dc:.3f} ({delta:+.3f}); the change {verdict}.",
        "Changed: " + "; ".join(changes) + ".",
        "Per task: " + "; ".join(per_task) + ".",
    ]
    if verdict == "helped":
        lifted = f" (it lifted {', '.join(gains)})" if gains else ""
        watch = f", but watch {', '.join(losses)}." if losses else "."
        lines.append(f"Next: push further in the same direction{lifted}{watch}")
    elif verdict == "hurt":
        lines.append(
            "Next: undo or soften this change"
            + (f"; it cost {', '.join(losses)}" if losses else "")
            + (f" while helping {', '.join(gains)}." if gains else ".")
        )
    else:
        lines.append("Next: this dimension looks flat; change something else.")
    return "\n".join(lines)


def meta_summary(store: Any, top: int = 3) -> str:
    """What works, dead ends and recommendations, rebuilt from the candidates in memory."""
    cands = store.candidates()
    if not cands:
        return "Meta-summary: no candidates yet."
    ok = {cid: m for cid, m in cands.items() if m.get("status") == "ok" and "dev" in m}
    failed = {cid: m for cid, m in cands.items() if m.get("status") == "failed"}
    by_family: dict[str, list[float]] = defaultdict(list)
    deltas: dict[str, list[float]] = defaultdict(list)
    for m in ok.values():
        fam = str(m.get("method_family") or "?")
        by_family[fam].append(float(m["dev"]))
        parents = [p for p in str(m.get("parents", "")).split(",") if p in ok]
        if parents:
            deltas[f"{fam}/{m.get('operator') or '?'}"].append(
                float(m["dev"]) - max(float(ok[p]["dev"]) for p in parents)
            )
    best = sorted(ok.items(), key=lambda kv: -float(kv[1]["dev"]))[:top]
    lines = [f"Meta-summary over {len(cands)} candidates ({len(ok)} scored, {len(failed)} failed)."]
    if best:
        lines.append(
            "Best so far: "
            + "; ".join(f"{cid} {m.get('method_family', '?')} dev {float(m['dev']):.3f}" for cid, m in best)
        )
    works = sorted(
        ((sum(v) / len(v), k, len(v)) for k, v in deltas.items() if sum(v) / len(v) > 0), reverse=True
    )
    dead = sorted((sum(v) / len(v), k, len(v)) for k, v in deltas.items() if len(v) >= 2 and max(v) <= 0)
    if works:
        lines.append(
            "What works: " + "; ".join(f"{k} (mean gain {g:+.3f} over {n})" for g, k, n in works[:top])
        )
    fail_fam: dict[str, int] = defaultdict(int)
    for m in failed.values():
        fail_fam[str(m.get("method_family") or "?")] += 1
    dead_text = [f"{k} (never improved in {n} tries, mean {g:+.3f})" for g, k, n in dead[:top]]
    dead_text += [f"{fam} ({n} failures)" for fam, n in fail_fam.items() if n >= 2 and fam not in by_family]
    if dead_text:
        lines.append("Dead ends: " + "; ".join(dead_text))
    recs = []
    if best:
        recs.append(f"build on {best[0][0]} ({best[0][1].get('method_family', '?')})")
    if works:
        recs.append(f"more {works[0][1]}")
    if dead:
        recs.append(f"stop {dead[0][1]}")
    untried = {f for f in by_family if len(by_family[f]) == 1}
    if untried:
        recs.append("revisit once-tried families: " + ", ".join(sorted(untried)[:top]))
    if recs:
        lines.append("Recommendations: " + "; ".join(recs) + ".")
    return "\n".join(lines)


def maybe_meta_summary(store: Any, candidate_id: str, n_done: int, every: int) -> str | None:
    """Every `every` candidates, rebuild the meta-summary from memory and store it as a "meta" lesson."""
    if every <= 0 or n_done <= 0 or n_done % every != 0:
        return None
    text = meta_summary(store)
    store.add_lesson(candidate_id, text, kind="meta", n_done=n_done)
    return text


def _outcome(m: dict[str, Any]) -> str:
    parts = [str(m.get("status", "?"))]
    if m.get("operator"):
        parts.insert(0, str(m["operator"]))
    if "dev" in m:
        parts.append(f"dev {float(m['dev']):.3f}")
    if "test" in m:
        parts.append(f"test {float(m['test']):.3f}")
    if m.get("parents"):
        parts.append(f"parents {m['parents']}")
    if m.get("error"):
        parts.append(f"error: {m['error'][:120]}")
    return ", ".join(parts)


def memory_context(
    store: Any,
    query: str,
    k_lessons: int = 4,
    k_similar: int = 4,
    steering: list[Any] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
) -> str:
    """Markdown for a proposal prompt: steering (top priority), meta-summary, lessons, similar candidates.

    `exclude`: candidate ids the prompt shows anyway (the parents), left out of both lists;
    recorded duplicates (never evaluated) are left out of the similar candidates.
    """
    sections: list[str] = []
    if steering:
        lines = [f"- [{getattr(m, 'id', '?')}] {getattr(m, 'text', m)}" for m in steering]
        sections.append("#### Steering from the user (highest priority)\n" + "\n".join(lines))
    metas = store.lessons(kind="meta")
    if metas:
        latest = max(metas, key=lambda h: int(h.metadata.get("n_done", 0)))
        sections.append("#### Meta-summary\n" + latest.document)
    skip = set(exclude)
    lessons = store.relevant_lessons(query, k=k_lessons + len(skip), kind="lesson")
    lessons = [h for h in lessons if h.metadata.get("candidate") not in skip][:k_lessons]
    if lessons:
        sections.append("#### Relevant lessons\n" + "\n".join(f"- {h.document}" for h in lessons))
    similar = store.similar_candidates(query, k=k_similar + len(skip), where={"status": {"$ne": "duplicate"}})
    listed = {h.metadata.get("candidate") for h in lessons}  # a candidate once, not in both lists
    similar = [h for h in similar if h.id not in skip and h.id not in listed][:k_similar]
    if similar:
        lines = [f"- {h.id} [{_outcome(h.metadata)}]: {h.document[:400]}" for h in similar]
        sections.append("#### Most similar past candidates\n" + "\n".join(lines))
    return "\n\n".join(sections) if sections else "(memory is empty)"
