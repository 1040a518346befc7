"""The one-file HTML run report: pure rendering checks, atomic writes, and a real headless browser.

The browser tests skip when playwright or Chromium is missing, unless EVOMERGE_REQUIRE_BROWSER=1
(CI), where they fail instead.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import report_browser
from report_fixtures import synthetic_report_data

from evolution.runs.report_page import DATA_ELEMENT_ID, ReportError, embed_json, render_report, write_report

HOSTILE = "</script><script>window.__pwned = 1</script><!-- <img src=x onerror=window.__pwned=2> & \u2028"


def _payload(html: str) -> str:
    m = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', html, re.S)
    assert m, "data element missing"
    return m.group(1)


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    return synthetic_report_data(60, seed=3)


# ---------------------------------------------------------------- pure parts


def test_fixture_has_every_feature(small: dict[str, Any]) -> None:
    cands = small["candidates"]
    ops = {c["operator"] for c in cands}
    assert {"seed", "mutate", "crossover", "cmaes"} <= ops
    assert any(len(c["parents"]) == 2 for c in cands)
    assert {c["status"] for c in cands} == {"ok", "failed", "duplicate", "stopped"}
    assert len({c["island"] for c in cands}) == 4
    assert small["steering"] and small["baselines"] and small["proposers"]
    assert (
        small["best"] == max((c for c in cands if c["fitness"] is not None), key=lambda c: c["fitness"])["id"]
    )
    assert all(1200 <= len(c["recipe"]) <= 2500 for c in cands)
    assert any(c["diff"] and c["diff"].startswith("---") for c in cands)
    assert any(c["plan_grid"] and c["plan_grid"]["density"] for c in cands)


def test_page_is_one_file_without_network_references(small: dict[str, Any]) -> None:
    html = render_report(small)
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"<link\b|<iframe\b|@import|url\(\s*['\"]?(?:https?:)?//", html, re.I)
    assert html.count(f'id="{DATA_ELEMENT_ID}"') == 1
    assert html.count("<script") == 2 and html.count("</script>") == 2


def test_embedded_json_round_trips_and_cannot_close_the_script(small: dict[str, Any]) -> None:
    data = copy.deepcopy(small)
    data["candidates"][0]["recipe"] = HOSTILE
    data["run"]["name"] = "<b>run</b> & co"
    html = render_report(data)
    payload = _payload(html)
    assert "<" not in payload and ">" not in payload and "&" not in payload
    assert json.loads(payload) == data
    assert "<title>&lt;b&gt;run&lt;/b&gt; &amp; co · evomerge report</title>" in html


def test_non_finite_numbers_become_null() -> None:
    data = {"candidates": [{"id": "a", "fitness": math.nan, "dev": {"x": math.inf}}], "generated": -math.inf}
    back = json.loads(embed_json(data))
    assert back == {"candidates": [{"id": "a", "fitness": None, "dev": {"x": None}}], "generated": None}


def test_render_rejects_what_it_cannot_embed() -> None:
    with pytest.raises(ReportError):
        render_report([])  # type: ignore[arg-type]
    with pytest.raises(ReportError):
        render_report({"x": object()})


@pytest.mark.parametrize("data", [{}, synthetic_report_data(0), synthetic_report_data(1)])
def test_render_handles_empty_runs(data: dict[str, Any]) -> None:
    assert json.loads(_payload(render_report(data))) == data


def test_write_report_is_atomic(
    tmp_path: Path, small: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "sub" / "report.html"
    assert write_report(small, target) == target
    assert target.read_text(encoding="utf-8") == render_report(small)
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    old = target.read_text(encoding="utf-8")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(synthetic_report_data(5), target)
    assert target.read_text(encoding="utf-8") == old  # the old report is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no temp file left

    monkeypatch.undo()
    with pytest.raises(ReportError):
        write_report({"x": object()}, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = report_browser.unavailable_reason()
    if reason:
        if report_browser.browser_required():
            pytest.fail(f"{report_browser.REQUIRE_ENV}=1 but the browser test cannot run: {reason}")
        pytest.skip(f"browser test skipped: {reason} (set {report_browser.REQUIRE_ENV}=1 to make this fail)")
    with report_browser.launch() as b:
        yield b


def _open(browser: Any, data: dict[str, Any], path: Path) -> report_browser.LoadedReport:
    return report_browser.open_report(browser, write_report(data, path))


def _clickable_node(page: Any, ids: list[str]) -> tuple[str, float, float]:
    """A tree node (from `ids`) that the mouse can hit at its centre, and that centre."""
    found = page.evaluate(
        """(ids) => {
          for (const id of ids) {
            const n = document.querySelector(`#sec-tree .tree-svg .node[data-id="${id}"]`);
            const r = n.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            if (hit && hit.getAttribute("data-id") === id) return [id, x, y];
          }
          return null;
        }""",
        ids,
    )
    assert found, "no tree node could be hit by the mouse"
    return found[0], found[1], found[2]


def test_report_renders_and_reacts_in_chromium(browser: Any, tmp_path: Path) -> None:
    data = synthetic_report_data(150, seed=1)
    cands = data["candidates"]
    r = _open(browser, data, tmp_path / "report.html")
    page = r.page
    evaluated = [  # a migrant is a copy of its source: not counted again
        c for c in cands if c["status"] == "ok" and c["fitness"] is not None and c["operator"] != "migrate"
    ]
    assert page.locator("#sec-curves .dot").count() == len(evaluated)
    assert page.locator("#sec-curves .dot.polish").count() == sum(
        c["operator"].startswith("cmaes") for c in evaluated
    )
    assert page.locator("#sec-curves .steer-mark").count() == len(data["steering"])
    assert page.locator("#sec-tree .tree-svg .node").count() == len(cands)
    stopped = [c["id"] for c in cands if c["status"] == "stopped"]  # cascade: quiet, never ranked
    assert stopped and data["best"] not in stopped
    assert page.locator("#sec-curves .curves-svg .stop-mark").count() == len(stopped)
    assert page.locator("#sec-tree .tree-svg .node.stopped").count() == len(stopped)
    assert page.locator("#sec-tree .tree-svg").get_attribute("data-edges") == str(
        sum(len(c["parents"]) for c in cands)
    )
    assert page.locator("#sec-cand .cand-id").inner_text() == data["best"]  # default selection
    assert page.locator("#sec-scores tbody tr").count() == 10 + len(data["baselines"])
    assert page.locator("#sec-pareto .pdot.front").count() >= 1
    assert page.locator("#sec-plan .heat .cell").count() > 0

    # a real mouse click on a tree node selects it and shows its diff against its first parent
    page.locator("#sec-tree").scroll_into_view_if_needed()
    with_diff = [c["id"] for c in cands if c["diff"] and c["id"] != data["best"]]
    cid, x, y = _clickable_node(page, with_diff[len(with_diff) // 2 :])
    page.mouse.click(x, y)
    assert page.locator("#sec-cand .cand-id").inner_text() == cid
    diff = next(c["diff"] for c in cands if c["id"] == cid)
    shown = page.locator("#cand-diff").inner_text()
    assert shown.splitlines()[0] == diff.splitlines()[0]
    assert page.locator("#cand-diff .dl.add").count() == sum(
        1 for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")
    )
    assert page.locator("#sec-tree .sel-ring").get_attribute("visibility") == "visible"

    # the other views and controls work without errors
    for label in ("Wall time", "Dollars", "Evaluations"):
        page.locator("#sec-curves .seg button", has_text=label).click()
        assert page.locator("#sec-curves .dot").count() == len(evaluated)
    page.locator("#sec-cand .seg button", has_text="Recipe").click()
    assert "def plan(ctx)" in page.locator("#sec-cand .code").inner_text()
    page.locator("#sec-pareto select").first.select_option("tr")
    page.locator("#sec-scores th", has_text="mean").first.click()
    page.locator("#sec-tree .seg button", has_text="Generation").click()
    assert page.locator("#sec-tree .tree-svg .node").count() == len(cands)
    tick_js = (
        "() => [...document.querySelectorAll('#sec-tree .tree-ticks text')].map(e => e.textContent).join()"
    )
    ticks = page.evaluate(tick_js)
    page.locator("#sec-tree").scroll_into_view_if_needed()
    box = page.locator("#sec-tree .tree-svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)  # ctrl+wheel zooms the tree, so its axis ticks change
    page.keyboard.up("Control")
    page.wait_for_function(f"(t) => ({tick_js})() !== t", arg=ticks)
    page.mouse.wheel(0, 200)  # a plain wheel scrolls the page
    page.locator("#sec-tree .btn", has_text="Best").click()
    assert page.locator("#sec-cand .cand-id").inner_text() == data["best"]
    page.locator("#sec-scores tr.cand-row").nth(2).click()
    page.locator("#sec-tree .btn", has_text="Fit").click()
    page.set_viewport_size({"width": 900, "height": 900})
    page.wait_for_timeout(300)
    assert r.errors == []

    shot = tmp_path / "report.png"
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.wait_for_timeout(300)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nreport screenshot: {shot}")
    assert r.errors == []


def _variants() -> dict[str, dict[str, Any]]:
    """Data with optional parts missing or odd, each of which must render without a JS error."""
    base = synthetic_report_data(40, seed=2)
    out: dict[str, dict[str, Any]] = {"empty dict": {}, "zero candidates": synthetic_report_data(0)}
    out["one candidate"] = synthetic_report_data(1)

    one = copy.deepcopy(base)
    one["run"]["tasks"] = ["add"]
    for row in one["candidates"] + one["baselines"]:
        for split in ("dev", "test"):
            if row.get(split):
                row[split] = {"add": row[split]["add"], "mean": row[split]["add"]}
    out["one task"] = one

    bare = copy.deepcopy(base)
    for c in bare["candidates"]:
        for k in (
            "test",
            "dollars_total",
            "cost",
            "plan_grid",
            "diff",
            "recipe",
            "timings",
            "steering",
            "evaluation",
        ):
            c.pop(k, None)
    for b in bare["baselines"]:
        b.pop("test")
    for k in ("steering", "proposers", "baselines", "best", "generated", "schema"):
        bare.pop(k)
    bare["run"] = {"name": "bare"}
    out["no test, dollars, steering, plans, baselines"] = bare

    odd = copy.deepcopy(base)
    odd["best"] = "missing"
    odd["run"]["budget"] = None
    odd["run"]["tasks"] = None
    odd["candidates"][3].update(parents="c0001", island=None, fitness="0.5", dev=None, status="weird")
    odd["candidates"][4].update(
        parents=["nope", "c0001"], island="north", plan_grid={"experts": ["a"], "rows": []}
    )
    odd["candidates"][5]["plan_grid"] = {"experts": ["a", "b"], "rows": ["layer 0"], "weight": [[None, -0.5]]}
    odd["candidates"][6].update(id=odd["candidates"][7]["id"], recipe=HOSTILE, notes=HOSTILE, rationale=None)
    odd["candidates"].append("not a candidate")
    odd["steering"].append({"text": "no id, no position"})
    odd["run"]["name"] = HOSTILE
    out["odd values and hostile text"] = odd
    return out


@pytest.mark.parametrize("name", list(_variants()))
def test_report_survives_missing_and_odd_data(browser: Any, tmp_path: Path, name: str) -> None:
    data = _variants()[name]
    r = _open(browser, data, tmp_path / "report.html")
    assert r.errors == []
    assert r.page.evaluate("window.__pwned") is None
    assert r.page.locator("#sec-tree .tree-svg .node").count() == sum(
        isinstance(c, dict) for c in data.get("candidates", [])
    )
    assert r.page.locator(".error-box").count() == 0
    # every candidate can be shown without an error
    ids = r.page.evaluate(
        "[...document.querySelectorAll('#sec-tree .tree-svg .node')].map(n => n.dataset.id)"
    )
    for cid in ids[:50]:
        r.page.evaluate("(id) => { location.hash = '#' + encodeURIComponent(id); }", cid)
        r.page.wait_for_function(
            "(id) => document.querySelector('#sec-cand .cand-id')?.textContent === id", arg=cid
        )
    assert r.errors == []


def test_report_of_1000_candidates_renders(browser: Any, tmp_path: Path) -> None:
    """Everything is drawn at 1,000 candidates and selection still works. Load and selection times
    are printed, not asserted (timings depend on the machine; bench/report_overhead.py and
    `tests/report_browser.py --sizes 100 1000` measure them)."""
    data = synthetic_report_data(1000)
    r = _open(browser, data, tmp_path / "report.html")
    size = (tmp_path / "report.html").stat().st_size
    print(f"\n1000 candidates: {size / 1024:.0f} KiB, rendered {r.ready_ms:.0f} ms after navigation start")
    assert r.errors == []
    assert r.page.locator("#sec-tree .tree-svg .node").count() == 1000
    took = r.page.evaluate(
        """() => { const t = performance.now();
                   location.hash = '#c0500'; window.dispatchEvent(new HashChangeEvent('hashchange'));
                   return performance.now() - t; }"""
    )
    print(f"selecting another candidate: {took:.0f} ms")
    assert r.page.locator("#sec-cand .cand-id").inner_text() == "c0500"
    assert r.errors == []
