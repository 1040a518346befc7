"""The report's data read from a real run folder, the session's own refresh, and `evomerge report`.

One real session on the small zoo (offline proposers, two islands, crossover, a CMA-ES polish,
migration and a steering message sent while it runs) feeds every test here, including the one
that opens its report in headless Chromium.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import report_browser
from helpers_session import cascade_config, tiny_config
from typer.testing import CliRunner

from agents.session import run_session
from evolution.runs.folder import RunFolder
from evolution.runs.lineage import Lineage
from evolution.runs.report import COMPARISON_FILE, comparison, reference_rows, saved_reference_rows
from evolution.runs.report_data import RunReader, fill_sequence, report_data, steering_rows
from evolution.runs.report_page import DATA_ELEMENT_ID
from evolution.runs.report_refresh import REPORT_FILE, ReportRefresher
from evolution.steering.messages import SteeringMessage, append_message

STEER = "avoid slerp"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-session")
    cfg = tiny_config(
        tmp,
        "rep",
        budget={"evaluations": 8},
        proposers=[{"model": "offline/mutator"}, {"model": "offline/explorer"}],
        bandit=True,
        strategy={"islands": 2, "crossover_rate": 0.5, "cmaes_inner": 2, "migrate_every": 4},
    )
    root = tmp / "runs" / "rep"

    def steer_once(c: Any, state: dict[str, Any]) -> None:
        if state["candidates"] == 3:
            append_message(root, STEER)

    result = run_session(cfg, tmp / "runs", on_record=steer_once)
    assert result.run_dir == root and result.stop_reason
    return root


def _embedded(html: str) -> dict[str, Any]:
    m = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def test_session_leaves_a_complete_report(run_dir: Path) -> None:
    html = (run_dir / REPORT_FILE).read_text()
    data = _embedded(html)
    lin = Lineage.open_or_init(run_dir / "lineage", "rep")
    cands = lin.candidates()
    assert [c["id"] for c in data["candidates"]] == [c.id for c in cands]  # the last one included
    assert data["run"]["stop_reason"] == json.loads((run_dir / "status.json").read_text())["stop_reason"]
    assert data["best"] == lin.best().id


def test_candidates_carry_run_totals_and_evaluation_order(run_dir: Path) -> None:
    data = report_data(run_dir)
    cands = data["candidates"]
    scored = [c for c in cands if c["status"] == "ok" and c["operator"] != "migrate"]
    assert [c["evaluation"] for c in scored] == list(range(1, len(scored) + 1))
    assert data["run"]["evaluations"] == len(scored) == 8
    elapsed = [c["elapsed_s"] for c in cands]
    assert all(e is not None and e > 0 for e in elapsed) and elapsed == sorted(elapsed)
    assert all(c["dollars_total"] == 0.0 for c in cands)  # offline proposers cost nothing
    assert data["run"]["elapsed_s"] >= elapsed[-1] - 1e-6


def test_children_have_a_diff_against_their_first_parent_and_a_plan_grid(run_dir: Path) -> None:
    cands = report_data(run_dir)["candidates"]
    by_id = {c["id"]: c for c in cands}
    children = [c for c in cands if c["parents"] and c["operator"] in ("mutate", "crossover")]
    assert children
    for c in children:
        parent = c["parents"][0]
        assert c["diff"].startswith(f"--- {parent}/recipe.py\n+++ {c['id']}/recipe.py\n")
        assert c["diff"].count("\n+") >= 1 or by_id[parent]["recipe"] == c["recipe"]
    assert all(c["diff"] is None for c in cands if not c["parents"])
    for c in cands:
        if c["status"] != "ok":
            continue
        grid = c["plan_grid"]
        assert (
            grid["rows"][0] == "embed" and "layer 0" in grid["rows"] and grid["rows"][-1] in ("norm", "head")
        )
        assert len(grid["weight"]) == len(grid["rows"])
        assert all(len(row) == len(grid["experts"]) for row in grid["weight"])
        assert set(grid["experts"]) <= {"base", "add", "rev", "tr"}


def test_steering_sent_mid_run_is_placed_on_the_curve(run_dir: Path) -> None:
    data = report_data(run_dir)
    (msg,) = data["steering"]
    assert msg["text"] == STEER and msg["time"] > 0
    first = next(c for c in data["candidates"] if msg["id"] in c["steering"])
    before = data["candidates"][: data["candidates"].index(first)]
    assert msg["after_evaluation"] == sum(1 for c in before if c["evaluation"] and c["operator"] != "migrate")


def test_git_notes_and_tunables_show_as_notes(run_dir: Path) -> None:
    lin = Lineage.open_or_init(run_dir / "lineage", "rep")
    c = lin.candidates()[-1]
    reader = RunReader(RunFolder(run_dir))
    before = next(x for x in reader.data()["candidates"] if x["id"] == c.id)
    lin.add_note(c.commit, "Raising add's weight helped add and hurt rev.", ref="lessons")
    after = next(x for x in reader.data()["candidates"] if x["id"] == c.id)  # the same reader sees it
    assert "Raising add's weight" not in before["notes"]
    assert "**Lesson (LLM reflection)**\n\nRaising add's weight helped add and hurt rev." in after["notes"]
    tuned = next((x for x in lin.candidates() if x.tunables), None)
    if tuned is not None:
        entry = next(x for x in reader.data()["candidates"] if x["id"] == tuned.id)
        assert "**tunables**" in entry["notes"] and sorted(tuned.tunables)[0] in entry["notes"]


def test_proposer_rows_add_up(run_dir: Path) -> None:
    data = report_data(run_dir)
    rows = {r["name"]: r for r in data["proposers"]}
    assert sum(r["calls"] for r in rows.values()) == len(data["candidates"])
    assert "(seed)" in rows and rows["(seed)"]["mean_gain"] is None
    assert {"offline/mutator", "offline/explorer"} & set(rows)
    assert sum(r["evaluated"] for r in rows.values()) == data["run"]["evaluations"]


def test_reader_reads_only_new_commits(run_dir: Path, tmp_path: Path) -> None:
    reader = RunReader(RunFolder(run_dir))
    first = reader.data()
    parsed = dict(reader._records)
    again = reader.data()
    assert reader._records == parsed  # nothing re-read
    assert [c["id"] for c in again["candidates"]] == [c["id"] for c in first["candidates"]]
    assert first["candidates"][0] is not again["candidates"][0]  # callers get their own copies


def test_refresher_waits_in_proportion_to_its_cost(run_dir: Path, tmp_path: Path) -> None:
    now = [100.0]
    r = ReportRefresher(RunFolder(run_dir), tmp_path / "r.html", min_interval_s=5.0, clock=lambda: now[0])
    assert r.maybe_refresh() == tmp_path / "r.html" and r.refreshes == 1
    assert r.maybe_refresh() is None
    r.last_cost_s = 0.3  # a slow refresh: wait 50 x 0.3 = 15 s, not 5
    now[0] += 6.0
    assert not r.due()
    now[0] += 10.0
    assert r.due() and r.maybe_refresh() is not None and r.refreshes == 2
    assert r.total_s > 0


def test_fill_sequence_counts_migrants_as_copies() -> None:
    def e(cid: str, op: str, status: str = "ok", fit: float | None = 0.5, el: float | None = None) -> dict:
        return {
            "id": cid,
            "operator": op,
            "status": status,
            "fitness": fit,
            "elapsed_s": el,
            "dollars_total": el,
        }

    entries = [e("a", "seed", el=1.0), e("b", "mutate", "failed", None, 2.0), e("m", "migrate", el=0.5)]
    entries += [e("c", "mutate", el=None), e("d", "cmaes", el=4.0)]
    assert fill_sequence(entries) == 3
    assert [x["evaluation"] for x in entries] == [1, None, 1, 2, 3]
    assert [x["elapsed_s"] for x in entries] == [1.0, 2.0, 2.0, 2.0, 4.0]
    msgs = [SteeringMessage("s0001", 5.0, "x"), SteeringMessage("s0002", 6.0, "y")]
    entries[3]["steering"], entries[4]["steering"] = ["s0001"], ["s0001"]
    for x in entries[:3]:
        x["steering"] = []
    rows = steering_rows(msgs, entries, 3)
    assert [r["after_evaluation"] for r in rows] == [1, 3]


def test_comparison_is_computed_once_and_kept(run_dir: Path) -> None:
    folder = RunFolder(run_dir)
    (run_dir / COMPARISON_FILE).unlink(missing_ok=True)
    assert saved_reference_rows(folder) is None
    rows = reference_rows(folder)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("base") == 1 and kinds.count("expert") == 3 and "baseline" in kinds
    stamp = json.loads((run_dir / COMPARISON_FILE).read_text())["computed"]
    full = comparison(folder)
    assert full[0]["kind"] == "evolved" and full[1:] == rows
    assert json.loads((run_dir / COMPARISON_FILE).read_text())["computed"] == stamp  # reused
    data = report_data(run_dir)
    assert [b["name"] for b in data["baselines"]] == [r["name"] for r in rows]
    record = json.loads((run_dir / COMPARISON_FILE).read_text())
    record["config"]["seed"] += 1  # made for another config: stale, not used
    (run_dir / COMPARISON_FILE).write_text(json.dumps(record))
    assert saved_reference_rows(folder) is None
    # without a valid comparison, the sources' dev scores the session kept (references.json) stand in
    sources = json.loads((run_dir / "references.json").read_text())["sources"]
    fallback = report_data(run_dir)["baselines"]
    assert sorted(b["name"].split(" ")[0] for b in fallback) == sorted(sources)
    assert all(b["kind"] in ("base", "expert") and b["test"] == {} for b in fallback)
    (run_dir / "references.json").rename(run_dir / "references.json.away")
    try:
        assert report_data(run_dir)["baselines"] == []
    finally:
        (run_dir / "references.json.away").rename(run_dir / "references.json")


def test_report_command_writes_where_asked(run_dir: Path, tmp_path: Path) -> None:
    from evolution.cli import app, report_cmd

    report_cmd.register(app)
    out = tmp_path / "elsewhere" / "r.html"
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out), "--no-compare"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(f"report: {out.resolve()}")
    assert [c["id"] for c in _embedded(out.read_text())["candidates"]] == [
        c["id"] for c in report_data(run_dir)["candidates"]
    ]
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "no run folder" in bad.output and "Traceback" not in bad.output


def test_session_without_refresh_writes_no_report(tmp_path: Path) -> None:
    from agents.hooks import SessionHooks

    hooks = SessionHooks()
    hooks.refresh_report = False
    cfg = tiny_config(tmp_path, "quiet", budget={"evaluations": 2})
    result = run_session(cfg, tmp_path / "runs", hooks=hooks)
    assert not (result.run_dir / REPORT_FILE).exists()


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser() -> Any:
    reason = report_browser.unavailable_reason()
    if reason:
        if report_browser.browser_required():
            pytest.fail(f"{report_browser.REQUIRE_ENV}=1 but the browser test cannot run: {reason}")
        pytest.skip(f"browser test skipped: {reason} (set {report_browser.REQUIRE_ENV}=1 to make this fail)")
    with report_browser.launch() as b:
        yield b


def test_real_session_report_renders_in_chromium(run_dir: Path, browser: Any, tmp_path: Path) -> None:
    data = _embedded((run_dir / REPORT_FILE).read_text())
    cands = data["candidates"]
    r = report_browser.open_report(browser, run_dir / REPORT_FILE)
    page = r.page
    evaluated = [  # a migrant is a copy of its source: not counted again
        c for c in cands if c["status"] == "ok" and c["fitness"] is not None and c["operator"] != "migrate"
    ]
    assert page.locator("#sec-curves .dot").count() == len(evaluated)
    assert page.locator("#sec-curves .steer-mark").count() == 1
    assert page.locator("#sec-tree .tree-svg .node").count() == len(cands)
    assert page.locator("#sec-plan .heat .cell").count() > 0
    page.locator("#sec-curves .seg button", has_text="Wall time").click()
    assert page.locator("#sec-curves .dot").count() == len(evaluated)

    # a mouse click on a tree node selects it and shows its recipe's diff against its first parent
    with_diff = [c["id"] for c in cands if c["diff"] and "\n+" in c["diff"] and c["id"] != data["best"]]
    page.locator("#sec-tree").scroll_into_view_if_needed()
    hit = report_browser.clickable_node(page, with_diff)
    assert hit, f"no clickable node among {with_diff}"
    page.mouse.click(hit[1], hit[2])
    assert page.locator("#sec-cand .cand-id").inner_text() == hit[0]
    child = next(c for c in cands if c["id"] == hit[0])
    shown = page.locator("#cand-diff").inner_text()
    assert shown.splitlines()[0] == child["diff"].splitlines()[0]
    assert page.locator("#cand-diff .dl.add").count() == sum(
        1 for ln in child["diff"].splitlines() if ln.startswith("+") and not ln.startswith("+++")
    )
    assert r.errors == []
    shot = tmp_path / "report-session.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nreal-session report screenshot: {shot}")


# ---------------------------------------------------------------- cascade: stopped candidates


@pytest.fixture(scope="module")
def cascade_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real session with cascade evaluation: hopeless proposals stop after a dev subset."""
    tmp = tmp_path_factory.mktemp("report-cascade")
    cfg = cascade_config(tmp)
    return run_session(cfg, tmp / "runs").run_dir


def test_stopped_candidates_are_quiet_and_never_best(cascade_dir: Path) -> None:
    data = report_data(cascade_dir)
    cands = data["candidates"]
    stopped = [c for c in cands if c["status"] == "stopped"]
    assert stopped and data["run"]["stopped"] == len(stopped)
    assert data["best"] not in {c["id"] for c in stopped}
    assert data["best"] == Lineage.open_or_init(cascade_dir / "lineage", "cascade").best().id
    for c in stopped:  # scored on a dev subset only: shown, never ranked
        assert c["dev"] is None and c["test"] is None and c["fitness"] is None
        assert c["dev_partial"] and "mean" in c["dev_partial"]
        assert "stopped by cascade evaluation" in c["notes"]
    # a stopped candidate spent an evaluation of the budget: it takes its place on that axis
    placed = [c["evaluation"] for c in cands if c["operator"] != "migrate" and c["evaluation"]]
    assert placed == list(range(1, len(placed) + 1))
    assert all(c["evaluation"] for c in stopped)
    assert not any(r["name"] == c["id"] for r in data["proposers"] for c in stopped)


def test_stopped_candidates_render_in_chromium(cascade_dir: Path, browser: Any) -> None:
    data = _embedded((cascade_dir / REPORT_FILE).read_text())
    stopped = [c["id"] for c in data["candidates"] if c["status"] == "stopped"]
    assert stopped
    r = report_browser.open_report(browser, cascade_dir / REPORT_FILE)
    page = r.page
    assert page.locator("#sec-curves .curves-svg .stop-mark").count() == len(stopped)
    assert page.locator("#sec-tree .tree-svg .node.stopped").count() == len(stopped)
    assert page.locator("#sec-cand .cand-id").inner_text() == data["best"]
    page.evaluate("(id) => { location.hash = '#' + encodeURIComponent(id); }", stopped[0])
    page.wait_for_function(
        "(id) => document.querySelector('#sec-cand .cand-id')?.textContent === id", arg=stopped[0]
    )
    assert "partial dev" in page.locator("#sec-cand").inner_text().lower()
    assert r.errors == []
