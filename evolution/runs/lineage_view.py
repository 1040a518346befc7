"""`evomerge lineage RUN`: the family tree with scores, as a rich tree.

Why a tree and not `git log --graph`: the terminal tree puts each child under its first
parent with its dev/test scores, operator and proposer on one line, and marks the elite;
a crossover's second parent is named on the child's line (`× c0012`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evolution.runs.candidate import Candidate

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree


def lineage_path(path: str | Path) -> Path:
    """The lineage repository for a run folder or the repository itself."""
    p = Path(path)
    return p / "lineage" if (p / "lineage" / "HEAD").exists() else p


def node_label(c: Candidate, best_id: str | None, delta: float | None = None) -> str:
    """One rich-markup line: id, island, family, scores, operator, proposer."""
    from rich.markup import escape

    parts = [f"[bold]{c.id}[/]", f"[dim]i{c.island}[/]", escape(c.method_family or "?")]
    if c.status == "failed":
        err = (c.error or "").strip().splitlines()[0][:60] if (c.error or "").strip() else ""
        parts.append(f"[red]FAILED[/] [dim]{escape(err)}[/]")
    elif c.status == "duplicate":
        parts.append("[yellow]duplicate[/]")
    else:
        dev = c.dev_mean
        if dev is not None:
            d = f" ({delta:+.3f})" if delta is not None else ""
            color = "green" if delta is not None and delta > 0 else "white"
            parts.append(f"dev [{color}]{dev:.3f}{d}[/]")
        if c.test is not None:
            parts.append(f"test {c.test.mean:.3f}")
    parts.append(f"[cyan]{escape(c.operator or '-')}[/]")
    parts.append(f"[magenta]{escape(c.proposer or '-')}[/]")
    if len(c.parents) > 1:
        parts.append("× " + ", ".join(c.parents[1:]))
    if c.steering:
        parts.append(f"[yellow]steering {', '.join(c.steering)}[/]")
    if c.id == best_id:
        parts.append("[bold yellow]★ best[/]")
    return " ".join(parts)


def build_tree(cands: Sequence[Candidate], title: str, best_id: str | None, limit: int | None = None) -> Tree:
    """Children under their first parent; with `limit`, only the newest `limit` candidates
    (a child whose parent is hidden hangs on the root with '↑ parent')."""
    from rich.tree import Tree

    shown = list(cands)[-limit:] if limit else list(cands)
    ids = {c.id for c in shown}
    by_id = {c.id: c for c in cands}
    root = Tree(title)
    nodes: dict[str, Tree] = {}
    for c in shown:
        parent_scores = [by_id[p].dev_mean for p in c.parents if p in by_id and by_id[p].dev_mean is not None]
        delta = c.dev_mean - max(parent_scores) if c.dev_mean is not None and parent_scores else None  # type: ignore[type-var]
        label = node_label(c, best_id, delta)
        first = c.parents[0] if c.parents else None
        if first is not None and first not in ids:
            label += f" [dim]↑ {first}[/]"
        holder = nodes.get(first, root) if first in ids else root
        nodes[c.id] = holder.add(label)
    return root


def render_lineage(path: str | Path, console: Console, limit: int | None = None) -> None:
    """Print the run's family tree (or a clear line when there is no lineage yet)."""
    from evolution.runs.lineage import Lineage

    repo = lineage_path(path)
    if not (repo / "HEAD").exists():
        console.print(f"[red]no lineage repository at {repo}[/] (has the run recorded a candidate?)")
        return
    lin = Lineage.open_or_init(repo, repo.parent.name)
    cands = lin.candidates()
    best = lin.best()
    ok = [c for c in cands if c.status == "ok"]
    failed = sum(c.status == "failed" for c in cands)
    title = f"[bold]lineage[/] {repo}  ({len(cands)} candidates, {len(ok)} ok, {failed} failed)"
    console.print(build_tree(cands, title, best.id if best else None, limit))
    if best is not None:
        test = f", test {best.test.mean:.3f}" if best.test is not None else ""
        console.print(
            f"best: [bold]{best.id}[/] dev {best.dev_mean:.3f}{test}  commit {(best.commit or '')[:10]}"
        )
