/* evomerge run report.
 *
 * Reads the run's data from the JSON script element #evomerge-data and draws the
 * whole page with plain DOM and SVG: no library, no network. Every field except a candidate's id
 * may be missing or null, so every read goes through the small guards below, and each section
 * renders inside its own try/catch so one broken section cannot blank the page.
 */
(function () {
  "use strict";

  const SVGNS = "http://www.w3.org/2000/svg";
  const ISLAND_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948",
    "#ff9da7", "#6b6ecf"];
  const C = {
    dev: "#2f6fd6", test: "#e0772b", polish: "#8a4fd1", fail: "#b5bcc6", steer: "#0f8a7a",
    best: "#c98a00", ink: "#1d2430", muted: "#6b7480", grid: "#e8ebef",
  };
  const POLISH_OPS = new Set(["cmaes", "cmaes_ps"]);
  const KIND_ORDER = { evolved: 0, candidate: 0, expert: 1, model: 1, base: 2, baseline: 3 };

  // ---------------------------------------------------------------- guards and DOM helpers
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const obj = (v) => (isObj(v) ? v : {});
  const arr = (v) => (Array.isArray(v) ? v : []);
  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const str = (v) => (v === null || v === undefined ? "" : String(v));
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

  function setAttrs(n, attrs) {
    if (!attrs) return n;
    for (const k of Object.keys(attrs)) {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") n.textContent = str(v);
      else if (k.slice(0, 2) === "on" && typeof v === "function") n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : String(v));
    }
    return n;
  }
  function append(n, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) append(n, k);
      else n.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
    }
    return n;
  }
  /** An HTML element; text children become text nodes (data is never parsed as HTML). */
  function el(tag, attrs, ...kids) {
    return append(setAttrs(document.createElement(tag), attrs), kids);
  }
  function sv(tag, attrs, ...kids) {
    return append(setAttrs(document.createElementNS(SVGNS, tag), attrs), kids);
  }
  function clear(n) {
    while (n.firstChild) n.removeChild(n.firstChild);
    return n;
  }
  function debounce(fn, ms) {
    let t = 0;
    return () => { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // ---------------------------------------------------------------- formatting
  const fmt = {
    score: (v) => (num(v) === null ? "—" : v.toFixed(3)),
    delta: (v) => (num(v) === null ? "—" : (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3)),
    int: (v) => (num(v) === null ? "—" : Math.round(v).toLocaleString("en-US")),
    tokens(v) {
      if (num(v) === null) return "—";
      if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
      if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
      if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
      return String(Math.round(v));
    },
    dollars(v) {
      if (num(v) === null) return "—";
      if (v === 0) return "$0";
      if (Math.abs(v) < 0.01) return "$" + v.toFixed(4);
      if (Math.abs(v) < 1000) return "$" + v.toFixed(2);
      return "$" + Math.round(v).toLocaleString("en-US");
    },
    duration(s) {
      if (num(s) === null) return "—";
      if (s < 1) return Math.round(s * 1000) + " ms";
      if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.round(s % 60);
      return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(r).padStart(2, "0")}s`;
    },
    pct: (v) => (num(v) === null ? "—" : Math.round(v * 100) + "%"),
    date(t) {
      if (num(t) === null) return "";
      const d = new Date(t * 1000);
      return isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
    },
  };

  // ---------------------------------------------------------------- scales
  function niceStep(span, n) {
    const raw = span / Math.max(1, n);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }
  function ticks(a, b, n, integer) {
    if (!(b > a)) return [a];
    let s = niceStep(b - a, n);
    if (integer) s = Math.max(1, Math.round(s));
    const out = [];
    for (let v = Math.ceil(a / s) * s; v <= b + s * 1e-9 && out.length < 50; v += s) out.push(+v.toPrecision(12));
    return out;
  }
  function linear(d0, d1, r0, r1) {
    const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
    const f = (v) => r0 + (v - d0) * k;
    f.d0 = d0; f.d1 = d1; f.r0 = r0; f.r1 = r1;
    return f;
  }
  function extent(values, pad) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (num(v) !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (lo === Infinity) return [0, 1];
    if (hi === lo) { const w = Math.abs(lo) * 0.1 || 0.05; return [lo - w, hi + w]; }
    const p = (hi - lo) * (pad || 0);
    return [lo - p, hi + p];
  }

  // ---------------------------------------------------------------- tooltip
  const tip = {
    node: null,
    show(evt, lines) {
      if (!this.node) { this.node = el("div", { class: "tip", role: "tooltip" }); document.body.appendChild(this.node); }
      clear(this.node);
      lines.forEach((l, i) => {
        if (l === null || l === undefined || l === "") return;
        this.node.appendChild(el("div", { class: i === 0 ? "tip-title" : "tip-line" }, l));
      });
      this.node.style.display = "block";
      this.move(evt);
    },
    move(evt) {
      if (!this.node || this.node.style.display !== "block") return;
      const pad = 14, w = this.node.offsetWidth, h = this.node.offsetHeight;
      let x = evt.clientX + pad, y = evt.clientY + pad;
      if (x + w > window.innerWidth - 4) x = evt.clientX - w - pad;
      if (y + h > window.innerHeight - 4) y = evt.clientY - h - pad;
      this.node.style.left = Math.max(4, x) + "px";
      this.node.style.top = Math.max(4, y) + "px";
    },
    hide() { if (this.node) this.node.style.display = "none"; },
  };

  // ---------------------------------------------------------------- data model
  function readData() {
    const node = document.getElementById("evomerge-data");
    if (!node) return { data: {}, error: "no data element in the page" };
    try {
      const d = JSON.parse(node.textContent || "{}");
      return { data: isObj(d) ? d : {}, error: isObj(d) ? null : "the data is not an object" };
    } catch (e) {
      return { data: {}, error: "the embedded data is not valid JSON (" + e.message + ")" };
    }
  }

  function splitMean(split, tasks) {
    const m = num(split.mean);
    if (m !== null) return m;
    const vals = (tasks.length ? tasks : Object.keys(split)).filter((t) => t !== "mean").map((t) => num(split[t]))
      .filter((v) => v !== null);
    return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
  }

  function taskList(D) {
    const given = arr(obj(D.run).tasks).map(str).filter(Boolean);
    if (given.length) return given;
    const seen = [];
    const add = (split) => Object.keys(obj(split)).forEach((k) => { if (k !== "mean" && !seen.includes(k)) seen.push(k); });
    arr(D.candidates).forEach((c) => { add(obj(c).dev); add(obj(c).test); });
    arr(D.baselines).forEach((b) => { add(obj(b).dev); add(obj(b).test); });
    return seen;
  }

  function normalize(r, i, tasks) {
    const dev = obj(r.dev), test = obj(r.test);
    // stopped: cascade evaluation ended it after a dev subset (no test, never ranked): drawn quietly
    const status = ["ok", "failed", "duplicate", "stopped"].includes(r.status) ? r.status : (r.error ? "failed" : "ok");
    const devMean = splitMean(dev, tasks);
    const fitness = num(r.fitness) !== null ? r.fitness : devMean;
    const island = r.island === null || r.island === undefined || r.island === "" ? "–" : str(r.island);
    return {
      raw: r, id: str(r.id), index: num(r.index) !== null ? r.index : i, order: 0,
      generation: num(r.generation), island, parents: arr(r.parents).map(str).filter(Boolean),
      status, op: str(r.operator) || "?", proposer: str(r.proposer), family: str(r.method_family),
      dev, test, devMean, testMean: splitMean(test, tasks), fitness: status === "ok" ? fitness : null,
      partial: status === "stopped" ? splitMean(obj(r.dev_partial), tasks) : null,
      // a migrant is a copy of its source (same plan, same scores): drawn in the tree, not counted again
      evaluated: status === "ok" && fitness !== null && str(r.operator) !== "migrate",
      evaluation: num(r.evaluation), elapsed: num(r.elapsed_s), dollars: num(r.dollars_total),
      polish: POLISH_OPS.has(str(r.operator)), children: [], evalN: null, evalAt: 0,
    };
  }

  function buildModel(D) {
    const tasks = taskList(D);
    const seen = new Set();
    const cands = [];
    arr(D.candidates).forEach((r, i) => {
      if (!isObj(r)) return;
      const c = normalize(r, i, tasks);
      if (!c.id || seen.has(c.id)) c.id = (c.id || "candidate") + "#" + i;
      seen.add(c.id);
      cands.push(c);
    });
    cands.sort((a, b) => a.index - b.index);
    const byId = new Map(cands.map((c) => [c.id, c]));
    let count = 0;
    cands.forEach((c, k) => {
      c.order = k;
      c.parents = c.parents.filter((p) => byId.has(p) && p !== c.id);
      c.parents.forEach((p) => byId.get(p).children.push(c.id));
      if (c.evaluated) { count += 1; c.evalN = c.evaluation !== null ? c.evaluation : count; }
      else if (c.status === "stopped") count = c.evaluation !== null ? c.evaluation : count + 1;
      c.evalAt = c.evalN !== null ? c.evalN : count;
    });
    const evaluated = cands.filter((c) => c.evaluated);
    let best = byId.get(str(D.best));
    if (best && !best.evaluated) best = null; // a failed, stopped or migrant record is never the best
    if (!best && evaluated.length) best = evaluated.reduce((a, b) => (b.fitness > a.fitness ? b : a));
    const islands = [...new Set(cands.map((c) => c.island))].sort((a, b) => {
      const x = Number(a), y = Number(b);
      return isNaN(x) || isNaN(y) ? (a < b ? -1 : a > b ? 1 : 0) : x - y;
    });
    const islandColor = new Map(islands.map((k, i) => [k, ISLAND_COLORS[i % ISLAND_COLORS.length]]));
    const steering = arr(D.steering).filter(isObj).map((s, i) => ({
      id: str(s.id) || "s" + (i + 1), text: str(s.text), time: num(s.time), after: num(s.after_evaluation),
      label: "S" + (i + 1),
    }));
    return {
      D, run: obj(D.run), tasks, cands, byId, evaluated, best: best ? best.id : null, islands, islandColor,
      steering, bestLine: ancestry(byId, best ? best.id : null),
    };
  }

  /** The candidate and every ancestor (all parents, so both sides of a crossover). */
  function ancestry(byId, id) {
    const out = new Set();
    const stack = id && byId.has(id) ? [id] : [];
    while (stack.length) {
      const x = stack.pop();
      if (out.has(x)) continue;
      out.add(x);
      byId.get(x).parents.forEach((p) => stack.push(p));
    }
    return out;
  }

  // ---------------------------------------------------------------- selection
  const S = { selected: null, xAxis: "evaluations", listeners: [] };
  let M = null;

  function onSelect(fn) { S.listeners.push(fn); }
  function select(id, opts) {
    if (!M.byId.has(id)) return;
    S.selected = id;
    for (const fn of S.listeners) {
      try { fn(id, opts || {}); } catch (e) { console.error(e); }
    }
    if (!(opts && opts.noHash) && history.replaceState) {
      try { history.replaceState(null, "", "#" + encodeURIComponent(id)); } catch (e) { /* file:// may refuse */ }
    }
  }

  function candTip(c) {
    const parts = [c.op, c.proposer, "island " + c.island].filter(Boolean).join(" · ");
    const score = c.evaluated ? `dev ${fmt.score(c.fitness)} · test ${fmt.score(c.testMean)}`
      : c.status === "stopped" ? `stopped (partial dev ${fmt.score(c.partial)})` : c.status;
    const when = [c.evalN !== null ? "eval #" + c.evalN : null, c.elapsed !== null ? fmt.duration(c.elapsed) : null,
      c.dollars !== null ? fmt.dollars(c.dollars) : null].filter(Boolean).join(" · ");
    return [c.id + (c.id === M.best ? "  ★ best" : ""), parts, score, when];
  }

  // ---------------------------------------------------------------- page frame
  function card(id, title, opts) {
    const o = opts || {};
    const head = el("div", { class: "card-head" }, el("h2", null, title), o.sub ? el("span", { class: "card-sub" }, o.sub) : null);
    const tools = el("div", { class: "card-tools" });
    head.appendChild(tools);
    const body = el("div", { class: "card-body" });
    const node = el("section", { class: "card " + (o.cls || ""), id }, head, body);
    return { node, head, tools, body, titleNode: head.firstChild };
  }

  const timings = {}; // ms per stage, exposed as window.__evomergeTimings for measurements
  function guarded(c, build) {
    const t0 = performance.now();
    try { build(c); } catch (e) {
      console.error("evomerge report: section " + c.node.id + " failed:", e);
      c.body.appendChild(el("div", { class: "error-box" }, "This section could not be drawn: " + e.message));
    }
    timings[c.node.id.replace("sec-", "")] = Math.round((performance.now() - t0) * 10) / 10;
  }

  function segmented(options, value, onChange) {
    const box = el("div", { class: "seg", role: "group" });
    for (const o of options) {
      const b = el("button", { type: "button", class: o.value === value ? "on" : "", disabled: o.disabled || null,
        title: o.title || null, "data-value": o.value }, o.label);
      b.addEventListener("click", () => {
        box.querySelectorAll("button").forEach((x) => x.classList.toggle("on", x === b));
        onChange(o.value);
      });
      box.appendChild(b);
    }
    return box;
  }

  function legendItem(swatch, label) {
    return el("span", { class: "lg" }, swatch, label);
  }
  function swatchSvg(draw) {
    const s = sv("svg", { width: 18, height: 12, class: "lg-sw", "aria-hidden": "true" });
    draw(s);
    return s;
  }

  function nice(value, empty) { return value === null || value === undefined || value === "" ? (empty || "—") : value; }

  // ---------------------------------------------------------------- header
  function renderHeader(root) {
    const run = M.run, D = M.D, budget = obj(run.budget);
    const best = M.best ? M.byId.get(M.best) : null;
    const evals = num(run.evaluations) !== null ? run.evaluations : M.evaluated.length;
    const nCands = num(run.candidates) !== null ? run.candidates : M.cands.length;
    const failed = num(run.failed) !== null ? run.failed : M.cands.filter((c) => c.status === "failed").length;
    const dups = M.cands.filter((c) => c.status === "duplicate").length;
    const stopped = M.cands.filter((c) => c.status === "stopped").length;
    const dollars = num(run.dollars) !== null ? run.dollars
      : M.cands.reduce((a, c) => a + (num(obj(c.raw.cost).dollars) || 0), 0);

    function tile(label, value, sub, extra) {
      return el("div", { class: "tile" }, el("div", { class: "tile-label" }, label),
        el("div", { class: "tile-value" }, value), sub ? el("div", { class: "tile-sub" }, sub) : null, extra || null);
    }
    function bar(frac) {
      return el("div", { class: "bar" }, el("div", { class: "bar-fill", style: `width:${clamp(frac, 0, 1) * 100}%` }));
    }
    const bEval = num(budget.evaluations), bTime = num(budget.wall_time_s), bUsd = num(budget.dollars);
    const bestLink = best ? el("a", { href: "#" + best.id, class: "cid", onclick: (e) => { e.preventDefault(); select(best.id, { center: true }); } }, best.id) : "—";
    const meta = [
      run.objective ? ["objective", str(run.objective)] : null,
      M.tasks.length ? ["tasks", M.tasks.join(", ")] : null,
      run.base ? ["base", str(run.base)] : null,
      arr(run.experts).length ? ["experts", arr(run.experts).map(str).join(", ")] : null,
    ].filter(Boolean);

    const header = el("header", { class: "page-head" },
      el("div", { class: "top-title" },
        el("div", { class: "brand" }, "evomerge · run report"),
        el("h1", null, str(run.name) || "unnamed run"),
        el("div", { class: "meta" }, meta.map(([k, v]) => el("span", { class: "meta-item" }, el("span", { class: "meta-k" }, k), v)))),
      el("div", { class: "tiles" },
        tile("Evaluations", fmt.int(evals) + (bEval !== null ? " / " + fmt.int(bEval) : ""),
          bEval !== null ? fmt.pct(evals / Math.max(1, bEval)) + " of budget" : "no evaluation budget",
          bEval !== null ? bar(evals / Math.max(1, bEval)) : null),
        tile("Candidates", fmt.int(nCands), `${fmt.int(failed)} failed · ${fmt.int(dups)} duplicate` +
          (stopped ? ` · ${fmt.int(stopped)} stopped` : "")),
        tile("Best", bestLink, best ? `dev ${fmt.score(best.fitness)} · test ${fmt.score(best.testMean)}` : "no scored candidate"),
        tile("Wall time", fmt.duration(num(run.elapsed_s)), bTime !== null ? "budget " + fmt.duration(bTime) : null,
          bTime !== null && num(run.elapsed_s) !== null ? bar(run.elapsed_s / Math.max(1e-9, bTime)) : null),
        tile("Cost", fmt.dollars(dollars), bUsd !== null ? "budget " + fmt.dollars(bUsd) : null,
          bUsd !== null ? bar(dollars / Math.max(1e-9, bUsd)) : null),
        tile("Stopped", el("span", { class: "tile-text" }, str(run.stop_reason) || "—"), null)));
    root.appendChild(header);
  }

  function renderNav(root) {
    const links = [["sec-curves", "Progress"], ["sec-tree", "Family tree"], ["sec-cand", "Candidate"],
      ["sec-plan", "Plan"], ["sec-pareto", "Pareto"], ["sec-scores", "Scores"], ["sec-proposers", "Proposers"]];
    const sel = el("span", { class: "nav-sel" });
    const nav = el("nav", { class: "nav" },
      el("span", { class: "nav-run" }, str(M.run.name) || "run"),
      links.map(([id, label]) => el("a", { href: "#" + id, onclick: (e) => {
        e.preventDefault();
        const t = document.getElementById(id);
        if (t) t.scrollIntoView({ behavior: "smooth", block: "start" });
      } }, label)), sel);
    onSelect((id) => {
      clear(sel).appendChild(el("span", { class: "muted" }, "selected "));
      sel.appendChild(el("b", null, id));
    });
    root.appendChild(nav);
  }

  // ---------------------------------------------------------------- progress curves
  function renderCurves(c) {
    const modes = [
      { value: "evaluations", label: "Evaluations", key: (x) => x.evalN, fail: (x) => x.evalAt, axis: "evaluations",
        budget: num(obj(M.run.budget).evaluations), tick: (v) => fmt.int(v) },
      { value: "time", label: "Wall time", key: (x) => x.elapsed, fail: (x) => x.elapsed, axis: "wall time",
        budget: num(obj(M.run.budget).wall_time_s), tick: (v) => fmt.duration(v).replace(".00 s", " s") },
      { value: "dollars", label: "Dollars", key: (x) => x.dollars, fail: (x) => x.dollars, axis: "dollars spent",
        budget: num(obj(M.run.budget).dollars), tick: (v) => fmt.dollars(v) },
    ];
    for (const m of modes) {
      m.disabled = !M.evaluated.some((x) => m.key(x) !== null) || (m.value === "dollars" && !M.evaluated.some((x) => x.dollars > 0));
      if (m.disabled) m.title = "not recorded for this run";
    }
    c.tools.appendChild(el("span", { class: "tool-label" }, "x-axis"));
    c.tools.appendChild(segmented(modes, S.xAxis, (v) => { S.xAxis = v; draw(); }));

    const polishN = M.evaluated.filter((x) => x.polish).length;
    const failN = M.cands.filter((x) => x.status === "failed").length;
    const stopN = M.cands.filter((x) => x.status === "stopped").length;
    c.body.appendChild(el("div", { class: "legend" },
      legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 1, y1: 6, x2: 17, y2: 6, stroke: C.dev, "stroke-width": 2.5 }))), "best dev so far"),
      legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 1, y1: 6, x2: 17, y2: 6, stroke: C.test, "stroke-width": 2.5 }))), "test of the dev-best"),
      legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 3.2, fill: C.dev, "fill-opacity": 0.45 }))), "proposal (dev)"),
      polishN ? legendItem(swatchSvg((s) => s.appendChild(sv("path", { d: "M9 2l4 4-4 4-4-4z", fill: C.polish, "fill-opacity": 0.7 }))), "polish (CMA-ES)") : null,
      failN ? legendItem(swatchSvg((s) => s.appendChild(sv("path", { d: "M6 3l6 6M12 3l-6 6", stroke: C.fail, "stroke-width": 1.5 }))), `failed (${failN})`) : null,
      stopN ? legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 2.5, class: "stop-mark" }))), `stopped by the cascade (${stopN})`) : null,
      M.steering.length ? legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 9, y1: 0, x2: 9, y2: 12, stroke: C.steer, "stroke-dasharray": "3 2", "stroke-width": 1.5 }))), "steering message") : null));
    const box = el("div", { class: "chart" });
    c.body.appendChild(box);
    let pos = new Map();
    let ring = null;

    function draw() {
      clear(box);
      const mode = modes.find((m) => m.value === S.xAxis) || modes[0];
      const pts = M.evaluated.filter((x) => mode.key(x) !== null)
        .sort((a, b) => mode.key(a) - mode.key(b) || a.order - b.order);
      if (!pts.length) {
        box.appendChild(el("div", { class: "empty" }, M.cands.length ? "No evaluated candidate has a score on this axis." : "No candidates yet."));
        return;
      }
      const W = Math.max(420, box.clientWidth || 900), H = 300;
      const m = { l: 56, r: 20, t: 22, b: 40 };
      const fails = M.cands.filter((x) => x.status === "failed" && mode.fail(x) !== null);
      const stops = M.cands.filter((x) => x.status === "stopped" && mode.fail(x) !== null);
      const strip = fails.length || stops.length ? 14 : 0;
      let xMax = mode.key(pts[pts.length - 1]);
      for (const f of fails.concat(stops)) xMax = Math.max(xMax, mode.fail(f));
      if (mode.budget !== null && mode.budget > xMax && mode.budget <= xMax * 1.6) xMax = mode.budget;
      const x = linear(0, xMax > 0 ? xMax : 1, m.l, W - m.r);

      // best-so-far dev and the test score of that dev-best, as step lines
      const steps = [];
      let best = null;
      for (const p of pts) if (!best || p.fitness > best.fitness) { best = p; steps.push(p); }
      const yVals = pts.map((p) => p.fitness).concat(steps.map((p) => p.testMean));
      const [y0, y1] = extent(yVals, 0.06);
      const y = linear(y0, y1, H - m.b - strip, m.t);
      const svg = sv("svg", { width: W, height: H, class: "curves-svg", role: "img", "aria-label": "best score so far" });

      const grid = sv("g", { class: "grid" });
      for (const t of ticks(y0, y1, 5)) {
        grid.appendChild(sv("line", { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }));
        grid.appendChild(sv("text", { x: m.l - 8, y: y(t) + 4, "text-anchor": "end", class: "tick" }, t.toFixed(2)));
      }
      for (const t of ticks(0, x.d1, Math.max(3, Math.floor(W / 110)), mode.value === "evaluations")) {
        grid.appendChild(sv("line", { x1: x(t), x2: x(t), y1: m.t, y2: H - m.b, class: "vgrid" }));
        grid.appendChild(sv("text", { x: x(t), y: H - m.b + 16, "text-anchor": "middle", class: "tick" }, mode.tick(t)));
      }
      grid.appendChild(sv("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
      grid.appendChild(sv("text", { x: W - m.r, y: H - 6, "text-anchor": "end", class: "axis-label" }, mode.axis));
      grid.appendChild(sv("text", { x: 14, y: m.t + (H - m.t - m.b) / 2, class: "axis-label", "text-anchor": "middle",
        transform: `rotate(-90 14 ${m.t + (H - m.t - m.b) / 2})` }, "score"));
      svg.appendChild(grid);

      if (mode.budget !== null && mode.budget <= x.d1) {
        svg.appendChild(sv("line", { x1: x(mode.budget), x2: x(mode.budget), y1: m.t, y2: H - m.b, class: "budget-line" }));
        svg.appendChild(sv("text", { x: x(mode.budget) - 4, y: m.t - 6, "text-anchor": "end", class: "budget-label" }, "budget"));
      }

      // steering messages: a dashed rule with a flag; hover shows the text
      const steer = sv("g", { class: "steer" });
      for (const s of M.steering) {
        let sx = null;
        if (mode.value === "evaluations" && s.after !== null) sx = s.after + 0.5;
        else if (s.after !== null) {
          const at = pts.find((p) => p.evalN === s.after) || pts.find((p) => p.evalN > s.after);
          sx = at ? mode.key(at) : null;
        }
        if (sx === null || sx < 0 || sx > x.d1 + 1e-9) continue;
        const g = sv("g", { class: "steer-mark", "data-steer": s.id });
        g.appendChild(sv("line", { x1: x(sx), x2: x(sx), y1: m.t, y2: H - m.b, class: "steer-line" }));
        g.appendChild(sv("line", { x1: x(sx), x2: x(sx), y1: m.t - 14, y2: H - m.b, class: "steer-hit" }));
        g.appendChild(sv("rect", { x: x(sx) - 10, y: m.t - 16, width: 20, height: 13, rx: 2, class: "steer-flag" }));
        g.appendChild(sv("text", { x: x(sx), y: m.t - 6, "text-anchor": "middle", class: "steer-text" }, s.label));
        g.addEventListener("mousemove", (e) => tip.show(e, [s.label + " · " + s.id + (s.after !== null ? " · after evaluation " + s.after : ""), s.text, s.time !== null ? fmt.date(s.time) : null]));
        g.addEventListener("mouseleave", () => tip.hide());
        steer.appendChild(g);
      }
      svg.appendChild(steer);

      // failed candidates (quiet crosses) and cascade-stopped ones (small rings) in a strip under the plot
      if (fails.length || stops.length) {
        const fy = H - m.b - 6;
        const g = sv("g", { class: "fails" });
        const label = [fails.length ? "failed" : null, stops.length ? "stopped" : null].filter(Boolean).join("/");
        g.appendChild(sv("text", { x: m.l - 8, y: fy + 3, "text-anchor": "end", class: "tick" }, label));
        let d = "";
        for (const f of fails) { const fx = x(mode.fail(f)); d += `M${fx - 2.5} ${fy - 2.5}l5 5M${fx + 2.5} ${fy - 2.5}l-5 5`; }
        if (d) g.appendChild(sv("path", { d, class: "fail-mark" }));
        for (const f of stops) g.appendChild(sv("circle", { cx: x(mode.fail(f)), cy: fy, r: 2.2, class: "stop-mark", "data-id": f.id }));
        svg.appendChild(g);
      }

      // one mark per evaluated candidate; polishes are diamonds
      pos = new Map();
      const dots = sv("g", { class: "dots" });
      const improving = new Set(steps.map((p) => p.id));
      for (const p of pts) {
        const px = x(mode.key(p)), py = y(p.fitness);
        pos.set(p.id, [px, py]);
        const cls = "dot" + (p.polish ? " polish" : "") + (improving.has(p.id) ? " improve" : "");
        const node = p.polish
          ? sv("path", { d: `M${px} ${py - 4}l4 4-4 4-4-4z`, class: cls, "data-id": p.id })
          : sv("circle", { cx: px, cy: py, r: 3, class: cls, "data-id": p.id });
        dots.appendChild(node);
      }
      svg.appendChild(dots);

      let dDev = "", dTest = "";
      const xEnd = x(mode.key(pts[pts.length - 1]));
      steps.forEach((p, i) => {
        const px = x(mode.key(p));
        const next = i + 1 < steps.length ? x(mode.key(steps[i + 1])) : xEnd;
        dDev += `M${px} ${y(p.fitness)}H${next}` + (i + 1 < steps.length ? `V${y(steps[i + 1].fitness)}` : "");
        if (p.testMean !== null) {
          const nt = i + 1 < steps.length ? steps[i + 1].testMean : null;
          dTest += `M${px} ${y(p.testMean)}H${next}` + (nt !== null ? `V${y(nt)}` : "");
        }
      });
      svg.appendChild(sv("path", { d: dTest, class: "line-test" }));
      svg.appendChild(sv("path", { d: dDev, class: "line-dev" }));
      if (M.best && pos.has(M.best)) {
        const [bx, by] = pos.get(M.best);
        svg.appendChild(sv("circle", { cx: bx, cy: by, r: 6.5, class: "best-ring" }));
      }
      ring = sv("circle", { r: 7.5, class: "sel-ring", visibility: "hidden" });
      svg.appendChild(ring);
      placeRing();

      svg.addEventListener("mousemove", (e) => {
        const id = e.target.getAttribute && e.target.getAttribute("data-id");
        if (id && M.byId.has(id)) tip.show(e, candTip(M.byId.get(id)));
        else if (!e.target.closest(".steer-mark")) tip.hide();
      });
      svg.addEventListener("mouseleave", () => tip.hide());
      svg.addEventListener("click", (e) => {
        const id = e.target.getAttribute && e.target.getAttribute("data-id");
        if (id) select(id, { center: true });
      });
      box.appendChild(svg);
    }
    function placeRing() {
      if (!ring) return;
      const p = S.selected && pos.get(S.selected);
      ring.setAttribute("visibility", p ? "visible" : "hidden");
      if (p) { ring.setAttribute("cx", p[0]); ring.setAttribute("cy", p[1]); }
    }
    draw();
    onSelect(placeRing);
    window.addEventListener("resize", debounce(draw, 150));
  }

  // ---------------------------------------------------------------- family tree
  /* Layout: x is the candidate's order (or generation); each island is a horizontal band of rows.
   * A node continues its first parent's row when it is that parent's "heir" (the child whose
   * subtree reaches the best score), so strong lineages read as straight lines; other children
   * start a new chain in the free row nearest their parent. Rows are reused once free. */
  function layoutTree(mode) {
    const cands = M.cands;
    const X = new Map();
    if (mode === "generation") {
      const depth = new Map();
      for (const c of cands) {
        const d = c.generation !== null ? c.generation : c.parents.reduce((a, p) => Math.max(a, (depth.get(p) || 0) + 1), 0);
        depth.set(c.id, d);
        X.set(c.id, d);
      }
    } else cands.forEach((c) => X.set(c.id, c.order));

    const first = (c) => (c.parents.length ? M.byId.get(c.parents[0]) : null);
    const reach = new Map(); // best fitness in the first-parent subtree
    for (let i = cands.length - 1; i >= 0; i--) {
      const c = cands[i];
      const own = c.fitness !== null && c.evaluated ? c.fitness : -Infinity;
      reach.set(c.id, Math.max(own, reach.has(c.id) ? reach.get(c.id) : -Infinity));
      const p = first(c);
      if (p) reach.set(p.id, Math.max(reach.has(p.id) ? reach.get(p.id) : -Infinity, reach.get(c.id)));
    }
    const heir = new Map();
    for (const c of cands) {
      const p = first(c);
      if (!p || p.island !== c.island || X.get(c.id) <= X.get(p.id)) continue;
      const h = heir.get(p.id);
      if (!h || reach.get(c.id) > reach.get(h.id) || (reach.get(c.id) === reach.get(h.id) && c.order < h.order)) heir.set(p.id, c);
    }
    const isHeir = new Set([...heir.values()].map((c) => c.id));
    const chains = [];
    for (const c of cands) {
      if (isHeir.has(c.id)) continue;
      const nodes = [c];
      let cur = c;
      while (heir.has(cur.id)) { cur = heir.get(cur.id); nodes.push(cur); }
      chains.push({ nodes, start: X.get(c.id), end: X.get(cur.id), island: c.island, parent: first(c) });
    }
    chains.sort((a, b) => a.start - b.start || a.nodes[0].order - b.nodes[0].order);
    const rowOf = new Map();
    const rows = new Map(M.islands.map((k) => [k, []])); // island -> last x used per row
    for (const ch of chains) {
      const lanes = rows.get(ch.island);
      const want = ch.parent && ch.parent.island === ch.island && rowOf.has(ch.parent.id) ? rowOf.get(ch.parent.id) : 0;
      let pick = -1;
      for (let r = 0; r < lanes.length; r++) {
        if (lanes[r] < ch.start && (pick < 0 || Math.abs(r - want) < Math.abs(pick - want))) pick = r;
      }
      if (pick < 0) { pick = lanes.length; lanes.push(-Infinity); }
      lanes[pick] = ch.end;
      for (const n of ch.nodes) rowOf.set(n.id, pick);
    }
    const ROW = 14, GAP = 18;
    const bands = [];
    let top = 8;
    for (const k of M.islands) {
      const n = Math.max(1, rows.get(k).length);
      bands.push({ island: k, top, height: n * ROW, rows: n, count: cands.filter((c) => c.island === k).length });
      top += n * ROW + GAP;
    }
    const bandTop = new Map(bands.map((b) => [b.island, b.top]));
    const pos = new Map();
    for (const c of cands) pos.set(c.id, { x: X.get(c.id), y: bandTop.get(c.island) + (rowOf.get(c.id) + 0.5) * ROW });
    let xmin = Infinity, xmax = -Infinity;
    for (const p of pos.values()) { xmin = Math.min(xmin, p.x); xmax = Math.max(xmax, p.x); }
    if (xmin === Infinity) { xmin = 0; xmax = 1; }
    return { pos, bands, height: top - GAP + 8, xmin, xmax, mode };
  }

  function renderTree(c) {
    const H = M.cands.length ? 560 : 180, padL = 96, padR = 18, padT = 26, padB = 12;
    let L = null, view = { x0: 0, kx: 1, y0: 0, ky: 1 }, W = 800;
    const wrap = el("div", { class: "tree-wrap" });
    const svg = sv("svg", { class: "tree-svg", height: H, role: "img", "aria-label": "family tree" });
    wrap.appendChild(svg);
    const gBands = sv("g"), gEdges = sv("g", { class: "edges" }), gHi = sv("g", { class: "edges-hi" });
    const gNodes = sv("g", { class: "nodes" }), gTicks = sv("g", { class: "tree-ticks" }), gLabels = sv("g", { class: "band-labels" });
    const ring = sv("circle", { r: 8, class: "sel-ring", visibility: "hidden" });
    const selPath = sv("path", { class: "edge edge-sel" });
    // Everything positioned per candidate lives in gContent: a pan only translates it, a zoom
    // recomputes the coordinates (see place()).
    const gContent = sv("g", { class: "tree-content" }, gEdges, gHi, selPath, gNodes, ring);
    svg.append(gBands, gTicks, gContent, gLabels);
    let drawn = null; // the view the content's coordinates were computed for
    // Edges are drawn as one <path> per style (not one per edge): 16 elements instead of 1,000
    // keep zooming and panning smooth; the selected node's edges get an overlay path.
    let edges = [], groups = [], nodeEls = new Map(), bandEls = [], selEdges = [];

    const find = el("input", { type: "search", class: "find", placeholder: "find id…", list: "cand-ids", "aria-label": "find candidate" });
    const ids = el("datalist", { id: "cand-ids" });
    M.cands.forEach((x) => ids.appendChild(el("option", { value: x.id })));
    find.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      const v = find.value.trim();
      const hit = M.byId.get(v) || M.cands.find((x) => x.id.endsWith(v));
      find.classList.toggle("bad", !hit);
      if (hit) select(hit.id, { center: true });
    });
    const hasGen = M.cands.some((x) => x.generation !== null || x.parents.length);
    c.tools.append(find, ids, el("span", { class: "tool-label" }, "x"),
      segmented([{ value: "order", label: "Order" }, { value: "generation", label: "Generation", disabled: !hasGen }], "order",
        (v) => { build(v); fit(); }),
      el("div", { class: "seg" },
        el("button", { type: "button", title: "zoom in (ctrl + wheel)", "aria-label": "zoom in", onclick: () => zoomX(1.6, padL + (W - padL - padR) / 2) }, "+"),
        el("button", { type: "button", title: "zoom out", "aria-label": "zoom out", onclick: () => zoomX(1 / 1.6, padL + (W - padL - padR) / 2) }, "−")),
      el("button", { type: "button", class: "btn", title: "fit the whole tree", onclick: () => fit() }, "Fit"),
      el("button", { type: "button", class: "btn", title: "zoom to the best candidate", disabled: !M.best || null,
        onclick: () => { if (M.best) { select(M.best); focusOn(M.best, 12); } } }, "Best"));

    const ops = new Set(M.cands.map((x) => x.op));
    c.body.appendChild(el("div", { class: "legend" },
      M.islands.map((k) => legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 4, fill: M.islandColor.get(k) }))), "island " + k)),
      legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 1, y1: 6, x2: 17, y2: 6, class: "edge-best" }))), "best lineage"),
      ops.has("crossover") ? legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 1, y1: 6, x2: 17, y2: 6, class: "edge second", style: "stroke:" + C.muted + ";stroke-opacity:1" }))), "2nd parent") : null,
      M.islands.length > 1 ? legendItem(swatchSvg((s) => s.appendChild(sv("line", { x1: 1, y1: 6, x2: 17, y2: 6, class: "edge migrate", style: "stroke-opacity:1" }))), "cross-island") : null,
      [...ops].some((o) => POLISH_OPS.has(o)) ? legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 3.5, class: "node polish", style: "stroke:" + C.muted }))), "polish") : null,
      legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 2.5, class: "node failed" }))), "failed / duplicate / stopped"),
      el("span", { class: "hint" }, "ctrl+wheel: zoom · alt+wheel: row height · drag: pan · click: select")));
    c.body.appendChild(wrap);
    if (!M.cands.length) {
      wrap.appendChild(el("div", { class: "empty overlay" }, "No candidates yet."));
    }

    function build(mode) {
      L = layoutTree(mode);
      drawn = null;
      [gBands, gEdges, gHi, gNodes, gLabels].forEach(clear);
      edges = []; groups = []; nodeEls = new Map(); bandEls = []; selEdges = [];
      L.bands.forEach((b, i) => {
        const rect = sv("rect", { class: "band" + (i % 2 ? " odd" : "") });
        const label = sv("g", { class: "band-label" },
          sv("rect", { x: 0, width: padL - 8, height: 30, class: "band-label-bg" }),
          sv("circle", { cx: 12, r: 4.5, fill: M.islandColor.get(b.island) }),
          sv("text", { x: 22, class: "band-name" }, "island " + b.island),
          sv("text", { x: 22, class: "band-count" }, b.count + " cand."));
        gBands.appendChild(rect);
        gLabels.appendChild(label);
        bandEls.push({ b, rect, label });
      });
      const byStyle = new Map();
      for (const ch of M.cands) {
        ch.parents.forEach((pid, k) => {
          const p = M.byId.get(pid);
          const cross = p.island !== ch.island;
          const onBest = M.bestLine.has(ch.id) && M.bestLine.has(pid);
          const quiet = ch.status !== "ok";
          const cls = "edge" + (k > 0 ? " second" : "") + (cross ? " migrate" : "") + (quiet ? " quiet" : "") + (onBest ? " edge-best" : "");
          const color = cross || onBest || quiet ? "" : M.islandColor.get(ch.island);
          const key = cls + "|" + color;
          if (!byStyle.has(key)) {
            const g = { e: sv("path", { class: cls, stroke: color || null }), list: [] };
            byStyle.set(key, g);
            groups.push(g);
            (onBest ? gHi : gEdges).appendChild(g.e);
          }
          const ed = { from: pid, to: ch.id };
          byStyle.get(key).list.push(ed);
          edges.push(ed);
        });
      }
      svg.setAttribute("data-edges", edges.length);
      const nodeFrag = document.createDocumentFragment();
      const ordered = M.cands.slice().sort((a, b) => (a.status === "ok") - (b.status === "ok") || (M.bestLine.has(a.id) - M.bestLine.has(b.id)));
      for (const x of ordered) {
        const cls = "node " + (x.status !== "ok" ? x.status : "") + (x.polish ? " polish" : "") +
          (M.bestLine.has(x.id) ? " anc" : "") + (x.id === M.best ? " best" : "");
        const n = sv("circle", { class: cls.replace(/\s+/g, " ").trim(), r: x.id === M.best ? 6 : x.status === "ok" ? 3.6 : 2.4,
          fill: x.status === "ok" && !x.polish ? M.islandColor.get(x.island) : null,
          style: x.polish && !M.bestLine.has(x.id) ? "stroke:" + M.islandColor.get(x.island) : null, "data-id": x.id });
        nodeFrag.appendChild(n);
        nodeEls.set(x.id, n);
      }
      gNodes.appendChild(nodeFrag);
      markSelected();
    }

    const X = (x) => padL + (x - view.x0) * view.kx;
    const Y = (y) => padT + (y - view.y0) * view.ky;
    const cv = () => drawn || view; // content coordinates use the view they were drawn for
    const Xc = (x) => padL + (x - cv().x0) * cv().kx;
    const Yc = (y) => padT + (y - cv().y0) * cv().ky;
    function edgePath(a, b) {
      const x1 = Xc(a.x), y1 = Yc(a.y), x2 = Xc(b.x), y2 = Yc(b.y);
      if (Math.abs(y1 - y2) < 0.5) return `M${x1} ${y1}L${x2} ${y2}`;
      const mx = x1 + Math.min((x2 - x1) * 0.5, 40);
      return `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`;
    }
    let queued = false;
    function place() {
      queued = false;
      W = Math.max(360, wrap.clientWidth || 800);
      svg.setAttribute("width", W);
      for (const { b, rect, label } of bandEls) {
        const top = Y(b.top - 9), h = (b.height + 18) * view.ky;
        setAttrs(rect, { x: 0, y: top, width: W, height: Math.max(0, h) });
        const ly = clamp(Y(b.top) + 2, padT, Math.max(padT, top + h - 32));
        label.setAttribute("transform", `translate(0 ${ly})`);
        label.children[1].setAttribute("cy", 10);
        label.children[2].setAttribute("y", 14);
        label.children[3].setAttribute("y", 26);
      }
      if (drawn && drawn.kx === view.kx && drawn.ky === view.ky && drawn.W === W) {
        gContent.setAttribute("transform", `translate(${(drawn.x0 - view.x0) * view.kx} ${(drawn.y0 - view.y0) * view.ky})`);
      } else {
        drawn = { x0: view.x0, y0: view.y0, kx: view.kx, ky: view.ky, W };
        gContent.removeAttribute("transform");
        for (const [id, n] of nodeEls) {
          const p = L.pos.get(id);
          n.setAttribute("cx", Xc(p.x));
          n.setAttribute("cy", Yc(p.y));
        }
        for (const g of groups) g.e.setAttribute("d", g.list.map((ed) => edgePath(L.pos.get(ed.from), L.pos.get(ed.to))).join(""));
      }
      clear(gTicks);
      const lo = view.x0, hi = view.x0 + (W - padL - padR) / view.kx;
      for (const t of ticks(Math.max(lo, L.xmin), Math.min(hi, L.xmax), Math.max(2, Math.floor((W - padL) / 90)), true)) {
        gTicks.appendChild(sv("line", { x1: X(t), x2: X(t), y1: padT - 6, y2: H - padB, class: "vgrid" }));
        gTicks.appendChild(sv("text", { x: X(t), y: padT - 10, "text-anchor": "middle", class: "tick" }, L.mode === "generation" ? "gen " + t : "#" + t));
      }
      markSelected(true);
    }
    function schedule() { if (!queued) { queued = true; requestAnimationFrame(place); } }
    function fit() {
      W = Math.max(360, wrap.clientWidth || 800);
      const span = Math.max(1, L.xmax - L.xmin);
      view.kx = (W - padL - padR - 12) / span;
      view.x0 = L.xmin - 6 / view.kx;
      view.ky = clamp((H - padT - padB) / Math.max(1, L.height), 0.35, 1.8);
      view.y0 = 0;
      place();
    }
    function focusOn(id, kx) {
      const p = L.pos.get(id);
      if (!p) return;
      if (kx) view.kx = Math.max(view.kx, kx);
      view.x0 = p.x - (W - padL - padR) / 2 / view.kx;
      view.y0 = p.y - (H - padT - padB) / 2 / view.ky;
      if (L.height * view.ky <= H - padT - padB) view.y0 = 0;
      place();
    }
    function ensureVisible(id) {
      const p = L.pos.get(id);
      if (!p) return;
      const sx = X(p.x), sy = Y(p.y);
      if (sx < padL + 10 || sx > W - padR - 10 || sy < padT + 6 || sy > H - padB - 6) focusOn(id);
    }
    function markSelected(positionOnly) {
      const id = S.selected, p = id && L ? L.pos.get(id) : null;
      ring.setAttribute("visibility", p ? "visible" : "hidden");
      if (p) { ring.setAttribute("cx", Xc(p.x)); ring.setAttribute("cy", Yc(p.y)); }
      if (!positionOnly) selEdges = edges.filter((ed) => ed.to === id || ed.from === id);
      selPath.setAttribute("d", selEdges.map((ed) => edgePath(L.pos.get(ed.from), L.pos.get(ed.to))).join(""));
    }

    // interaction: ctrl+wheel (or pinch) zooms x around the cursor, alt+wheel the row height,
    // shift+wheel pans; a plain wheel keeps scrolling the page. Drag pans, click selects.
    const nudge = el("div", { class: "tree-nudge" }, "ctrl + wheel to zoom · drag to pan");
    wrap.appendChild(nudge);
    let nudgeTimer = 0;
    function zoomX(f, px) {
      const dx = view.x0 + (px - padL) / view.kx;
      const span = Math.max(1, L.xmax - L.xmin);
      const fitK = (W - padL - padR) / span;
      view.kx = clamp(view.kx * f, fitK / 4, Math.max(80, fitK * 40));
      view.x0 = dx - (px - padL) / view.kx;
      schedule();
    }
    svg.addEventListener("wheel", (e) => {
      const r = svg.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      const delta = e.deltaMode === 1 ? e.deltaY * 30 : e.deltaY;
      const f = Math.exp(-delta * 0.0016);
      if (e.ctrlKey || e.metaKey) {
        e.preventDefault();
        zoomX(f, px);
      } else if (e.altKey) {
        e.preventDefault();
        const dy = view.y0 + (py - padT) / view.ky;
        view.ky = clamp(view.ky * f, 0.2, 4);
        view.y0 = dy - (py - padT) / view.ky;
        schedule();
      } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        e.preventDefault();
        view.x0 += (e.deltaX || delta) / view.kx;
        schedule();
      } else {
        nudge.classList.add("on");
        clearTimeout(nudgeTimer);
        nudgeTimer = setTimeout(() => nudge.classList.remove("on"), 1200);
        return;
      }
      tip.hide();
    }, { passive: false });
    let drag = null, moved = false;
    svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, x0: view.x0, y0: view.y0 };
      moved = false;
    });
    window.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { moved = true; wrap.classList.add("dragging"); tip.hide(); }
      if (!moved) return;
      view.x0 = drag.x0 - dx / view.kx;
      view.y0 = drag.y0 - dy / view.ky;
      schedule();
    });
    window.addEventListener("pointerup", () => { drag = null; wrap.classList.remove("dragging"); });
    svg.addEventListener("click", (e) => {
      if (moved) { moved = false; return; }
      const id = e.target.getAttribute && e.target.getAttribute("data-id");
      if (id) select(id);
    });
    svg.addEventListener("mousemove", (e) => {
      if (drag && moved) return;
      const id = e.target.getAttribute && e.target.getAttribute("data-id");
      if (id && M.byId.has(id)) {
        const x = M.byId.get(id);
        const par = x.parents.length ? "parents " + x.parents.join(", ") : "no parents";
        tip.show(e, candTip(x).concat([par + " · " + x.children.length + " children"]));
      } else tip.hide();
    });
    svg.addEventListener("mouseleave", () => tip.hide());

    build("order");
    requestAnimationFrame(() => { fit(); if (S.selected) markSelected(); });
    fit();
    onSelect((id, o) => { markSelected(); if (o.center !== false) ensureVisible(id); });
    let lastW = W;
    window.addEventListener("resize", debounce(() => {
      const w = Math.max(360, wrap.clientWidth || 800);
      if (w !== lastW) { view.kx *= (w - padL - padR) / Math.max(1, lastW - padL - padR); lastW = w; place(); }
    }, 120));
  }

  // ---------------------------------------------------------------- selected candidate
  function kv(rows) {
    return el("dl", { class: "kv" }, rows.filter(Boolean).map(([k, v]) => [el("dt", null, k), el("dd", null, v)]));
  }
  function cidLink(id) {
    return el("a", { href: "#" + id, class: "cid", onclick: (e) => { e.preventDefault(); select(id, { center: true }); } }, id);
  }
  function linkList(ids) {
    if (!ids.length) return el("span", { class: "muted" }, "none");
    const out = el("span", { class: "links" });
    ids.slice(0, 24).forEach((id, i) => { if (i) out.appendChild(document.createTextNode(", ")); out.appendChild(cidLink(id)); });
    if (ids.length > 24) out.appendChild(el("span", { class: "muted" }, ` and ${ids.length - 24} more`));
    return out;
  }
  function badge(text, cls) { return el("span", { class: "badge " + (cls || "") }, text); }

  function scoresTable(x) {
    const tasks = M.tasks.length ? M.tasks : Object.keys(x.dev).filter((k) => k !== "mean");
    const parent = x.parents.length ? M.byId.get(x.parents[0]) : null;
    const hasTest = Object.keys(x.test).length > 0;
    const head = el("tr", null, el("th", null, "task"), el("th", { class: "num" }, "dev"),
      parent && parent.evaluated ? el("th", { class: "num" }, "Δ parent") : null, hasTest ? el("th", { class: "num" }, "test") : null);
    const rows = tasks.concat(["mean"]).map((t) => {
      const dv = t === "mean" ? x.devMean : num(x.dev[t]);
      const pv = parent ? (t === "mean" ? parent.devMean : num(parent.dev[t])) : null;
      const d = dv !== null && pv !== null ? dv - pv : null;
      return el("tr", { class: t === "mean" ? "mean-row" : "" }, el("td", null, t),
        el("td", { class: "num" }, fmt.score(dv)),
        parent && parent.evaluated ? el("td", { class: "num " + (d > 0 ? "pos" : d < 0 ? "neg" : "") }, fmt.delta(d)) : null,
        hasTest ? el("td", { class: "num" }, fmt.score(t === "mean" ? x.testMean : num(x.test[t]))) : null);
    });
    return el("table", { class: "tbl compact" }, el("thead", null, head), el("tbody", null, rows));
  }

  const PY_KW = new Set(("False None True and as assert async await break class continue def del elif else except finally " +
    "for from global if import in is lambda nonlocal not or pass raise return try while with yield").split(" "));
  const PY_TOKEN = /("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?|#[^\n]*|\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b|\b[A-Za-z_]\w*\b)/g;
  /** Python source as highlighted DOM: strings, comments, numbers, keywords, defined names. */
  function highlightPython(src) {
    const frag = document.createDocumentFragment();
    let last = 0, m, prev = "";
    PY_TOKEN.lastIndex = 0;
    while ((m = PY_TOKEN.exec(src))) {
      if (m.index > last) frag.appendChild(document.createTextNode(src.slice(last, m.index)));
      const t = m[0];
      let cls = null;
      if (t[0] === "#") cls = "c";
      else if (t[0] === '"' || t[0] === "'") cls = "s";
      else if (/^\d/.test(t)) cls = "n";
      else if (PY_KW.has(t)) cls = "k";
      else if (prev === "def" || prev === "class") cls = "f";
      frag.appendChild(cls ? el("span", { class: "hl-" + cls }, t) : document.createTextNode(t));
      if (/^\w/.test(t)) prev = t;
      last = m.index + t.length;
      if (t.length === 0) PY_TOKEN.lastIndex++;
    }
    if (last < src.length) frag.appendChild(document.createTextNode(src.slice(last)));
    return frag;
  }

  function codeBlock(src) {
    const lines = src.replace(/\n$/, "").split("\n");
    const gutter = el("pre", { class: "gutter", "aria-hidden": "true" }, lines.map((_, i) => i + 1).join("\n"));
    const code = el("pre", { class: "code" });
    code.appendChild(highlightPython(src.replace(/\n$/, "")));
    return el("div", { class: "code-wrap" }, gutter, code);
  }

  function diffBlock(diff) {
    const pre = el("pre", { class: "diff", id: "cand-diff" });
    let add = 0, del = 0;
    for (const line of diff.replace(/\n$/, "").split("\n")) {
      let cls = "ctx";
      if (line.startsWith("+++") || line.startsWith("---")) cls = "meta";
      else if (line.startsWith("@@")) cls = "hunk";
      else if (line.startsWith("+")) { cls = "add"; add++; }
      else if (line.startsWith("-")) { cls = "del"; del++; }
      else if (line.startsWith("\\")) cls = "meta";
      pre.appendChild(el("span", { class: "dl " + cls }, line + "\n"));
    }
    return { pre, add, del };
  }

  /** Inline markdown (`code`, **bold**, *em*) as DOM nodes; everything else stays text. */
  function inlineMd(text) {
    const frag = document.createDocumentFragment();
    const re = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\s][^*\n]*\*)/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      const t = m[0];
      if (t[0] === "`") frag.appendChild(el("code", null, t.slice(1, -1)));
      else if (t.startsWith("**")) frag.appendChild(el("strong", null, t.slice(2, -2)));
      else frag.appendChild(el("em", null, t.slice(1, -1)));
      last = m.index + t.length;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  /** A small, safe markdown subset for notes: paragraphs, headings, lists, code fences. */
  function markdown(text) {
    const root = el("div", { class: "md" });
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let para = [], list = null;
    const flush = () => {
      if (para.length) root.appendChild(el("p", null, inlineMd(para.join("\n"))));
      para = [];
    };
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      if (/^\s*```/.test(l)) {
        flush(); list = null;
        const body = [];
        while (i + 1 < lines.length && !/^\s*```/.test(lines[i + 1])) body.push(lines[++i]);
        i++;
        root.appendChild(el("pre", { class: "md-code" }, body.join("\n")));
        continue;
      }
      if (!l.trim()) { flush(); list = null; continue; }
      const h = /^(#{1,6})\s+(.*)$/.exec(l);
      if (h) { flush(); list = null; root.appendChild(el("div", { class: "md-h" }, inlineMd(h[2]))); continue; }
      const li = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(l);
      if (li) {
        flush();
        if (!list) { list = el("ul"); root.appendChild(list); }
        list.appendChild(el("li", null, inlineMd(li[1])));
        continue;
      }
      if (list && /^\s{2,}\S/.test(l)) { list.lastChild.appendChild(document.createTextNode(" " + l.trim())); continue; }
      list = null;
      para.push(l);
    }
    flush();
    return root;
  }

  function textBlock(title, text) {
    const t = str(text).trim();
    if (!t) return null;
    return el("div", { class: "block" }, el("h3", null, title), el("div", { class: "prose" }, markdown(t)));
  }

  function renderCandidate(c) {
    const body = c.body;
    function draw(id) {
      clear(body);
      const x = M.byId.get(id);
      if (!x) { body.appendChild(el("div", { class: "empty" }, M.cands.length ? "Select a candidate in the tree." : "No candidates yet.")); return; }
      const r = x.raw, cost = obj(r.cost), timings = obj(r.timings);
      const statusCls = x.status === "ok" ? "ok" : x.status === "failed" ? "bad" : "warn";
      c.titleNode.textContent = "Candidate " + x.id;
      body.appendChild(el("div", { class: "cand-head" },
        el("span", { class: "cand-id" }, x.id),
        badge(x.status, statusCls),
        x.id === M.best ? badge("★ best", "best") : M.bestLine.has(x.id) ? badge("ancestor of best", "anc") : null,
        badge(x.op + (x.polish ? " · polish" : ""), "op"),
        x.family ? badge(x.family, "fam") : null,
        el("span", { class: "swatch-dot", style: "background:" + (M.islandColor.get(x.island) || C.muted) }), el("span", { class: "muted" }, "island " + x.island)));
      if (x.evaluated) {
        body.appendChild(el("div", { class: "headline" },
          el("div", null, el("div", { class: "hl-label" }, M.run.has_objective ? "fitness (dev)" : "dev mean"), el("div", { class: "hl-value dev" }, fmt.score(x.fitness))),
          el("div", null, el("div", { class: "hl-label" }, "test mean"), el("div", { class: "hl-value test" }, fmt.score(x.testMean))),
          el("div", null, el("div", { class: "hl-label" }, "evaluation"), el("div", { class: "hl-value" }, x.evalN !== null ? "#" + x.evalN : "—"))));
      } else if (x.status === "stopped") {
        body.appendChild(el("div", { class: "headline" },
          el("div", null, el("div", { class: "hl-label" }, "partial dev (subset)"), el("div", { class: "hl-value" }, fmt.score(x.partial))),
          el("div", null, el("div", { class: "hl-label" }, "test"), el("div", { class: "hl-value" }, "not scored")),
          el("div", null, el("div", { class: "hl-label" }, "evaluation"), el("div", { class: "hl-value" }, x.evalAt ? "#" + x.evalAt : "—"))));
      }
      if (str(r.error).trim()) body.appendChild(el("div", { class: "block" }, el("h3", null, "Error"), el("pre", { class: "error-pre" }, str(r.error).trim())));
      const timingText = Object.keys(timings).filter((k) => num(timings[k]) !== null)
        .map((k) => k.replace(/_s$/, "") + " " + fmt.duration(timings[k])).join(" · ");
      const toks = num(cost.prompt_tokens) !== null || num(cost.completion_tokens) !== null
        ? `${fmt.tokens(num(cost.prompt_tokens) || 0)} prompt · ${fmt.tokens(num(cost.completion_tokens) || 0)} completion` : null;
      const applied = arr(r.steering).map(str).map((sid) => {
        const s = M.steering.find((m) => m.id === sid);
        return s ? `${s.label}: ${s.text}` : sid;
      });
      body.appendChild(kv([
        ["proposer", nice(x.proposer)],
        ["parents", linkList(x.parents)],
        ["children", linkList(x.children)],
        ["generation", x.generation !== null ? String(x.generation) : "—"],
        ["tokens", nice(toks)],
        ["dollars", fmt.dollars(num(cost.dollars))],
        timingText ? ["timings", timingText] : null,
        x.elapsed !== null ? ["recorded at", fmt.duration(x.elapsed) + " into the run" + (x.dollars !== null ? " · " + fmt.dollars(x.dollars) + " spent" : "")] : null,
        applied.length ? ["steering", applied.join("; ")] : null,
      ]));
      if (x.evaluated || Object.keys(x.dev).length) body.appendChild(el("div", { class: "block" }, el("h3", null, "Scores"), scoresTable(x)));
      [textBlock("Rationale", r.rationale), textBlock("Reflection", r.reflection), textBlock("Notes", r.notes)]
        .forEach((b) => b && body.appendChild(b));

      const diff = str(r.diff), recipe = str(r.recipe);
      if (diff || recipe) {
        const d = diff ? diffBlock(diff) : null;
        const panes = { diff: d ? d.pre : null, recipe: recipe ? codeBlock(recipe) : null };
        const holder = el("div", { class: "code-holder" });
        const first = panes.diff ? "diff" : "recipe";
        const show = (k) => { clear(holder).appendChild(panes[k]); };
        const opts = [];
        if (panes.diff) opts.push({ value: "diff", label: `Diff vs ${x.parents[0] || "parent"}` });
        if (panes.recipe) opts.push({ value: "recipe", label: "Recipe" });
        body.appendChild(el("div", { class: "block" },
          el("div", { class: "block-head" }, el("h3", null, "Code"), segmented(opts, first, show),
            d ? el("span", { class: "diffstat" }, el("span", { class: "pos" }, "+" + d.add), " ", el("span", { class: "neg" }, "−" + d.del)) : null),
          holder));
        show(first);
      } else body.appendChild(el("div", { class: "muted block" }, "No recipe recorded."));
      body.scrollTop = 0;
    }
    onSelect(draw);
    draw(null);
  }

  // ---------------------------------------------------------------- plan heatmap
  function mixColor(a, b, t) {
    const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16)), pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
    return "rgb(" + pa.map((v, i) => Math.round(v + (pb[i] - v) * clamp(t, 0, 1))).join(",") + ")";
  }
  function isLayerRow(name) { return /^(layer|layers|block|blk|h)[\s._-]*\d+$/i.test(name) || /^\d+$/.test(name); }
  function shortRow(name) { const m = /(\d+)$/.exec(name); return isLayerRow(name) && m ? m[1] : name; }

  function heatmap(title, experts, rows, matrix, scale, width) {
    const labelW = 64, top = 22, cellH = 24;
    const groups = rows.map((r) => (isLayerRow(r) ? "L" : r));
    let gaps = 0;
    for (let i = 1; i < rows.length; i++) if (groups[i] !== groups[i - 1] && (groups[i] === "L" || groups[i - 1] === "L")) gaps++;
    const cw = clamp(Math.floor((width - labelW - 8 - gaps * 6) / Math.max(1, rows.length)), 9, 52);
    const W = labelW + cw * rows.length + gaps * 6 + 8, H = top + cellH * experts.length + 30;
    const svg = sv("svg", { width: W, height: H, class: "heat", role: "img", "aria-label": title });
    const pid = "hatch-" + title.replace(/\W/g, "");
    svg.appendChild(sv("defs", null, sv("pattern", { id: pid, width: 5, height: 5, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      sv("rect", { width: 5, height: 5, fill: "#f6f7f9" }), sv("line", { x1: 0, y1: 0, x2: 0, y2: 5, stroke: "#dde1e6", "stroke-width": 1.5 }))));
    svg.appendChild(sv("text", { x: 0, y: 13, class: "heat-title" }, title));
    const xs = [];
    let xpos = labelW;
    rows.forEach((r, i) => {
      if (i > 0 && groups[i] !== groups[i - 1] && (groups[i] === "L" || groups[i - 1] === "L")) xpos += 6;
      xs.push(xpos);
      xpos += cw;
    });
    experts.forEach((e, j) => {
      svg.appendChild(sv("text", { x: labelW - 8, y: top + j * cellH + cellH / 2 + 4, "text-anchor": "end", class: "heat-row" }, e.length > 9 ? e.slice(0, 8) + "…" : e));
    });
    const leader = rows.map((_, i) => {
      let bj = -1, bv = -Infinity;
      experts.forEach((_, j) => { const v = num(arr(matrix[i])[j]); if (v !== null && v > bv) { bv = v; bj = j; } });
      return experts.length > 1 ? bj : -1;
    });
    const g = sv("g");
    rows.forEach((r, i) => {
      experts.forEach((e, j) => {
        const v = num(arr(matrix[i])[j]);
        const x = xs[i], y = top + j * cellH;
        const rect = sv("rect", { x: x + 0.5, y: y + 0.5, width: cw - 1, height: cellH - 1, rx: 2,
          fill: v === null ? `url(#${pid})` : scale.color(v), class: "cell" + (v === null ? " null" : "") + (leader[i] === j && v !== null && scale.leaders ? " lead" : ""),
          "data-tip": `${r} · ${e}\n${title} ${v === null ? "not set" : v.toFixed(3)}` });
        g.appendChild(rect);
        if (v !== null && cw >= 34) {
          g.appendChild(sv("text", { x: x + cw / 2, y: y + cellH / 2 + 4, "text-anchor": "middle",
            class: "cell-val" + (scale.dark(v) ? " inv" : "") }, Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2)));
        }
      });
    });
    svg.appendChild(g);
    const every = Math.max(1, Math.ceil(18 / cw));
    rows.forEach((r, i) => {
      const layer = isLayerRow(r);
      if (layer && Number(shortRow(r)) % every !== 0) return;
      svg.appendChild(sv("text", { x: xs[i] + cw / 2, y: top + experts.length * cellH + 13, "text-anchor": "middle",
        class: "heat-col" + (layer ? "" : " group") }, layer ? shortRow(r) : r.length > 6 && cw < 40 ? r.slice(0, 5) + "…" : r));
    });
    const firstL = rows.findIndex(isLayerRow);
    if (firstL >= 0) svg.appendChild(sv("text", { x: xs[firstL], y: top + experts.length * cellH + 27, class: "heat-axis" }, "layer →"));
    svg.addEventListener("mousemove", (ev) => {
      const t = ev.target.getAttribute && ev.target.getAttribute("data-tip");
      if (t) tip.show(ev, t.split("\n")); else tip.hide();
    });
    svg.addEventListener("mouseleave", () => tip.hide());
    return svg;
  }

  function colorBar(scale, label) {
    const W = 150;
    const s = sv("svg", { width: W + 90, height: 26, class: "cbar" });
    const gid = "grad-" + label.replace(/\W/g, "");
    const grad = sv("linearGradient", { id: gid });
    for (let i = 0; i <= 10; i++) grad.appendChild(sv("stop", { offset: i * 10 + "%", "stop-color": scale.color(scale.lo + (scale.hi - scale.lo) * i / 10) }));
    s.appendChild(sv("defs", null, grad));
    s.appendChild(sv("rect", { x: 30, y: 3, width: W, height: 9, fill: `url(#${gid})`, rx: 2, stroke: "#d9dde3" }));
    s.appendChild(sv("text", { x: 26, y: 11, "text-anchor": "end", class: "tick" }, scale.lo.toFixed(2)));
    s.appendChild(sv("text", { x: 34 + W, y: 11, class: "tick" }, scale.hi.toFixed(2)));
    return s;
  }

  function weightScale(matrix) {
    let lo = Infinity, hi = -Infinity;
    for (const row of arr(matrix)) for (const v of arr(row)) if (num(v) !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (lo < 0) {
      const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
      return { lo: -m, hi: m, leaders: true, color: (v) => (v < 0 ? mixColor("#ffffff", "#c8423b", -v / m) : mixColor("#ffffff", "#2357b8", v / m)), dark: (v) => Math.abs(v) / m > 0.55 };
    }
    const top = hi > 0 ? hi : 1;
    return { lo: 0, hi: top, leaders: true, color: (v) => mixColor("#f4f7fb", "#1f4fa3", v / top), dark: (v) => v / top > 0.55 };
  }
  const densityScale = { lo: 0, hi: 1, leaders: false, color: (v) => mixColor("#f3faf8", "#0b7a68", v), dark: (v) => v > 0.6 };

  function renderPlan(c) {
    const body = c.body;
    function draw(id) {
      clear(body);
      const x = M.byId.get(id);
      c.titleNode.textContent = x ? "Plan · " + x.id : "Plan";
      const g = obj(x && x.raw.plan_grid);
      const experts = arr(g.experts).map(str), rows = arr(g.rows).map(str);
      if (!x || !experts.length || !rows.length || !arr(g.weight).length) {
        body.appendChild(el("div", { class: "empty" }, x ? `No plan grid recorded for ${x.id}` + (x.status === "failed" ? " (the recipe failed before producing a plan)." : ".") : "Select a candidate."));
        return;
      }
      const width = Math.max(320, body.clientWidth || 560);
      const ws = weightScale(g.weight);
      body.appendChild(el("div", { class: "heat-block" }, heatmap("weight", experts, rows, arr(g.weight), ws, width),
        el("div", { class: "cbar-row" }, colorBar(ws, "weight"), el("span", { class: "muted small" }, "outlined: the leading expert of each row"))));
      const dens = arr(g.density);
      if (dens.some((row) => arr(row).some((v) => num(v) !== null))) {
        body.appendChild(el("div", { class: "heat-block" }, heatmap("density", experts, rows, dens, densityScale, width),
          el("div", { class: "cbar-row" }, colorBar(densityScale, "density"), el("span", { class: "muted small" }, "hatched: not set (dense)"))));
      } else body.appendChild(el("div", { class: "muted small" }, "No density: every delta is kept whole."));
    }
    onSelect(draw);
    window.addEventListener("resize", debounce(() => draw(S.selected), 150));
  }

  // ---------------------------------------------------------------- pareto scatter
  function renderPareto(c) {
    const tasks = M.tasks;
    if (tasks.length < 2) {
      c.body.appendChild(el("div", { class: "empty" }, tasks.length ? "The Pareto view needs at least two tasks; this run has one." : "No tasks recorded."));
      return;
    }
    let A = tasks[0], B = tasks[1];
    const selA = el("select", { "aria-label": "task on x" }, tasks.map((t) => el("option", { value: t }, t)));
    const selB = el("select", { "aria-label": "task on y" }, tasks.map((t) => el("option", { value: t }, t)));
    selA.value = A; selB.value = B;
    selA.addEventListener("change", () => { A = selA.value; draw(); });
    selB.addEventListener("change", () => { B = selB.value; draw(); });
    c.tools.append(el("label", { class: "tool-label" }, "x ", selA), el("label", { class: "tool-label" }, "y ", selB));
    c.body.appendChild(el("div", { class: "legend" },
      legendItem(swatchSvg((s) => s.appendChild(sv("circle", { cx: 9, cy: 6, r: 3, fill: C.dev, "fill-opacity": 0.35 }))), "candidate (dev)"),
      legendItem(swatchSvg((s) => s.appendChild(sv("path", { d: "M1 10L6 4L12 7L17 2", stroke: C.ink, fill: "none", "stroke-width": 1.6 }))), "non-dominated front"),
      arr(M.D.baselines).length ? legendItem(swatchSvg((s) => s.appendChild(sv("rect", { x: 5, y: 2, width: 8, height: 8, class: "bl-mark" }))), "baselines & source models") : null));
    const box = el("div", { class: "chart" });
    c.body.appendChild(box);
    let pos = new Map(), ring = null;
    function draw() {
      clear(box);
      const pts = M.evaluated.filter((x) => num(x.dev[A]) !== null && num(x.dev[B]) !== null);
      const bls = arr(M.D.baselines).filter(isObj).map((b) => ({ name: str(b.name), kind: str(b.kind), a: num(obj(b.dev)[A]), b: num(obj(b.dev)[B]) }))
        .filter((b) => b.a !== null && b.b !== null);
      if (!pts.length && !bls.length) { box.appendChild(el("div", { class: "empty" }, `No dev scores for ${A} and ${B}.`)); return; }
      const W = Math.max(320, box.clientWidth || 560), H = 340, m = { l: 50, r: 16, t: 12, b: 40 };
      const [a0, a1] = extent(pts.map((p) => p.dev[A]).concat(bls.map((b) => b.a)), 0.05);
      const [b0, b1] = extent(pts.map((p) => p.dev[B]).concat(bls.map((b) => b.b)), 0.05);
      const x = linear(a0, a1, m.l, W - m.r), y = linear(b0, b1, H - m.b, m.t);
      const svg = sv("svg", { width: W, height: H, class: "pareto-svg", role: "img", "aria-label": "Pareto scatter" });
      const grid = sv("g", { class: "grid" });
      for (const t of ticks(a0, a1, 6)) {
        grid.appendChild(sv("line", { x1: x(t), x2: x(t), y1: m.t, y2: H - m.b, class: "vgrid" }));
        grid.appendChild(sv("text", { x: x(t), y: H - m.b + 15, "text-anchor": "middle", class: "tick" }, t.toFixed(2)));
      }
      for (const t of ticks(b0, b1, 6)) {
        grid.appendChild(sv("line", { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }));
        grid.appendChild(sv("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, t.toFixed(2)));
      }
      grid.appendChild(sv("text", { x: W - m.r, y: H - 6, "text-anchor": "end", class: "axis-label" }, "dev · " + A));
      grid.appendChild(sv("text", { x: 12, y: m.t + 4, class: "axis-label", "text-anchor": "end", transform: `rotate(-90 12 ${m.t + 4})` }, "dev · " + B));
      svg.appendChild(grid);

      const sorted = pts.slice().sort((p, q) => q.dev[A] - p.dev[A] || q.dev[B] - p.dev[B]);
      const front = [];
      let bestB = -Infinity;
      for (const p of sorted) if (p.dev[B] > bestB) { front.push(p); bestB = p.dev[B]; }
      const onFront = new Set(front.map((p) => p.id));
      pos = new Map();
      const dots = sv("g", { class: "dots" });
      for (const p of pts) {
        const px = x(p.dev[A]), py = y(p.dev[B]);
        pos.set(p.id, [px, py]);
        if (!onFront.has(p.id)) dots.appendChild(sv("circle", { cx: px, cy: py, r: 2.8, class: "pdot", "data-id": p.id }));
      }
      svg.appendChild(dots);
      const fr = front.slice().sort((p, q) => p.dev[A] - q.dev[A]);
      if (fr.length > 1) {
        const d = fr.map((p, i) => (i ? "L" : "M") + x(p.dev[A]) + " " + y(p.dev[B])).join("");
        svg.appendChild(sv("path", { d, class: "front-line" }));
      }
      const fg = sv("g");
      for (const p of fr) fg.appendChild(sv("circle", { cx: x(p.dev[A]), cy: y(p.dev[B]), r: 4.2, class: "pdot front" + (p.id === M.best ? " best" : ""), "data-id": p.id }));
      svg.appendChild(fg);
      const bg = sv("g", { class: "baselines" });
      const placed = [];
      for (const b of bls) {
        const bx = x(b.a), by = y(b.b);
        const shape = b.kind === "expert" || b.kind === "model" ? sv("path", { d: `M${bx} ${by - 5}l5 8.5h-10z`, class: "bl-mark" })
          : b.kind === "base" ? sv("rect", { x: bx - 4, y: by - 4, width: 8, height: 8, class: "bl-mark" })
            : sv("path", { d: `M${bx} ${by - 5}l5 5-5 5-5-5z`, class: "bl-mark" });
        shape.setAttribute("data-bl", b.name);
        bg.appendChild(shape);
        const right = bx < W - 120;
        let ly = by + 4;
        while (placed.some((q) => Math.abs(q[0] - bx) < 110 && Math.abs(q[1] - ly) < 11)) ly += 11;
        placed.push([bx, ly]);
        bg.appendChild(sv("text", { x: right ? bx + 8 : bx - 8, y: ly, "text-anchor": right ? "start" : "end", class: "bl-label" }, b.name));
      }
      svg.appendChild(bg);
      ring = sv("circle", { r: 7.5, class: "sel-ring", visibility: "hidden" });
      svg.appendChild(ring);
      placeRing();
      svg.addEventListener("mousemove", (e) => {
        const id = e.target.getAttribute && e.target.getAttribute("data-id");
        const bl = e.target.getAttribute && e.target.getAttribute("data-bl");
        if (id && M.byId.has(id)) {
          const p = M.byId.get(id);
          tip.show(e, candTip(p).slice(0, 2).concat([`${A} ${fmt.score(p.dev[A])} · ${B} ${fmt.score(p.dev[B])}` + (onFront.has(id) ? " · on the front" : "")]));
        } else if (bl) {
          const b = bls.find((q) => q.name === bl);
          tip.show(e, [bl, `${A} ${fmt.score(b.a)} · ${B} ${fmt.score(b.b)}`]);
        } else tip.hide();
      });
      svg.addEventListener("mouseleave", () => tip.hide());
      svg.addEventListener("click", (e) => {
        const id = e.target.getAttribute && e.target.getAttribute("data-id");
        if (id) select(id, { center: true });
      });
      box.appendChild(svg);
    }
    function placeRing() {
      if (!ring) return;
      const p = S.selected && pos.get(S.selected);
      ring.setAttribute("visibility", p ? "visible" : "hidden");
      if (p) { ring.setAttribute("cx", p[0]); ring.setAttribute("cy", p[1]); }
    }
    draw();
    onSelect(placeRing);
    window.addEventListener("resize", debounce(draw, 150));
  }

  // ---------------------------------------------------------------- score table
  function sortableTable(columns, rows, opts) {
    const o = opts || {};
    let sortKey = null, dir = -1;
    const table = el("table", { class: "tbl " + (o.cls || "") });
    const thead = el("thead"), tbody = el("tbody");
    table.append(thead, tbody);
    if (o.groups) {
      thead.appendChild(el("tr", { class: "group-row" }, o.groups.map((g) => el("th", { colspan: g.span, class: g.cls || "" }, g.label))));
    }
    const hr = el("tr");
    columns.forEach((col) => {
      const th = el("th", { class: (col.num ? "num " : "") + (col.cls || "") + (col.sort ? " sortable" : ""), title: col.title || null }, col.label);
      if (col.sort) th.addEventListener("click", () => {
        dir = sortKey === col.key ? -dir : col.num ? -1 : 1;
        sortKey = col.key;
        hr.querySelectorAll("th").forEach((t) => t.classList.remove("asc", "desc"));
        th.classList.add(dir > 0 ? "asc" : "desc");
        fill();
      });
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    const bestOf = new Map();
    columns.forEach((col) => {
      if (!col.bold) return;
      const vals = rows.map((r) => num(col.value(r))).filter((v) => v !== null);
      if (vals.length > 1) bestOf.set(col.key, Math.max(...vals));
    });
    function fill() {
      const list = rows.slice();
      if (sortKey) {
        const col = columns.find((x) => x.key === sortKey);
        list.sort((a, b) => {
          const va = col.value(a), vb = col.value(b);
          if (va === null || va === undefined) return 1;
          if (vb === null || vb === undefined) return -1;
          return (va < vb ? -1 : va > vb ? 1 : 0) * dir;
        });
      }
      clear(tbody);
      for (const r of list) {
        const tr = el("tr", { class: (r.cls || "") + (r.sep && !sortKey ? " first-bl" : ""), "data-id": r.id || null });
        columns.forEach((col) => {
          const v = col.value(r);
          const isBest = bestOf.has(col.key) && num(v) !== null && Math.abs(v - bestOf.get(col.key)) < 1e-12;
          tr.appendChild(el("td", { class: (col.num ? "num " : "") + (col.cls || "") + (isBest ? " best-cell" : "") },
            col.render ? col.render(r) : col.num ? fmt.score(v) : nice(v)));
        });
        if (r.id && o.onRow) tr.addEventListener("click", () => o.onRow(r));
        tbody.appendChild(tr);
      }
      if (o.after) o.after(tbody);
    }
    fill();
    if (o.footer) table.appendChild(el("tfoot", null, o.footer));
    return table;
  }

  function renderScores(c) {
    const tasks = M.tasks;
    let topN = 10;
    const body = el("div", { class: "scroll-x" });
    c.body.appendChild(body);
    c.tools.append(el("span", { class: "tool-label" }, "top"),
      segmented([{ value: "10", label: "10" }, { value: "25", label: "25" }, { value: "100", label: "100" }], "10", (v) => { topN = Number(v); draw(); }));
    function draw() {
      clear(body);
      const top = M.evaluated.slice().sort((a, b) => b.fitness - a.fitness).slice(0, topN);
      const rows = top.map((x, i) => ({
        id: x.id, name: x.id, kind: "candidate", rank: i + 1, dev: x.dev, test: x.test, devMean: x.devMean, testMean: x.testMean,
        cls: "cand-row" + (x.id === M.best ? " best-row" : "") + (x.id === S.selected ? " sel" : ""), op: x.op,
      }));
      const bl = arr(M.D.baselines).filter(isObj)
        .map((b) => ({ name: str(b.name) || "baseline", kind: str(b.kind) || "baseline", dev: obj(b.dev), test: obj(b.test) }))
        .sort((a, b) => (KIND_ORDER[a.kind] !== undefined ? KIND_ORDER[a.kind] : 9) - (KIND_ORDER[b.kind] !== undefined ? KIND_ORDER[b.kind] : 9));
      bl.forEach((b, i) => rows.push({ name: b.name, kind: b.kind, dev: b.dev, test: b.test, devMean: splitMean(b.dev, tasks),
        testMean: splitMean(b.test, tasks), cls: "bl-row", sep: i === 0 && rows.length > 0 }));
      if (!rows.length) { body.appendChild(el("div", { class: "empty" }, "No scored candidates or baselines.")); return; }
      const hasTest = rows.some((r) => Object.keys(r.test).length);
      const cols = [
        { key: "rank", label: "#", num: false, cls: "rank", value: (r) => r.rank || null, render: (r) => (r.rank ? String(r.rank) : "") },
        { key: "name", label: "candidate / model", sort: true, value: (r) => r.name,
          render: (r) => (r.id ? el("span", null, el("span", { class: "cid" }, r.id), r.id === M.best ? el("span", { class: "star" }, " ★") : null, el("span", { class: "muted small" }, "  " + r.op)) : r.name) },
        { key: "kind", label: "kind", sort: true, value: (r) => r.kind, render: (r) => badge(r.kind, "kind-" + r.kind) },
      ];
      const splitCols = (split, label) => tasks.map((t) => ({ key: split + ":" + t, label: t, num: true, sort: true, bold: true, cls: split,
        value: (r) => num(r[split][t]) })).concat([{ key: split + ":mean", label: "mean", num: true, sort: true, bold: true,
        cls: split + " mean-col", value: (r) => r[split + "Mean"] }]).map((col, i) => (i === 0 ? Object.assign(col, { cls: col.cls + " group-start" }) : col));
      const groups = [{ label: "", span: 3 }];
      if (hasTest) { cols.push(...splitCols("test")); groups.push({ label: "test (reported, never selected on)", span: tasks.length + 1, cls: "test group-start" }); }
      cols.push(...splitCols("dev"));
      groups.push({ label: "dev (selection)", span: tasks.length + 1, cls: "dev group-start" });
      body.appendChild(sortableTable(cols, rows, { groups, cls: "scores", onRow: (r) => {
        select(r.id, { center: true });
        const t = document.getElementById("sec-tree");
        if (t) t.scrollIntoView({ behavior: "smooth", block: "start" });
      } }));
    }
    draw();
    onSelect((id) => body.querySelectorAll("tr[data-id]").forEach((tr) => tr.classList.toggle("sel", tr.getAttribute("data-id") === id)));
  }

  // ---------------------------------------------------------------- proposers
  function proposerRows() {
    const given = arr(M.D.proposers).filter(isObj);
    if (given.length) return given;
    const by = new Map();
    for (const x of M.cands) {
      const k = x.proposer || "(none)";
      const p = by.get(k) || { name: k, calls: 0, evaluated: 0, prompt_tokens: 0, completion_tokens: 0, dollars: 0, mean_gain: null };
      const cost = obj(x.raw.cost);
      p.calls++; if (x.evaluated) p.evaluated++;
      p.prompt_tokens += num(cost.prompt_tokens) || 0;
      p.completion_tokens += num(cost.completion_tokens) || 0;
      p.dollars += num(cost.dollars) || 0;
      by.set(k, p);
    }
    return [...by.values()].sort((a, b) => b.calls - a.calls);
  }

  function renderProposers(c) {
    const rows = proposerRows().map((p) => ({
      name: str(p.name) || "(unnamed)", calls: num(p.calls), evaluated: num(p.evaluated),
      share: num(p.calls) ? (num(p.evaluated) || 0) / p.calls : null, gain: num(p.mean_gain),
      pt: num(p.prompt_tokens), ct: num(p.completion_tokens), usd: num(p.dollars),
    }));
    if (!rows.length) { c.body.appendChild(el("div", { class: "empty" }, "No proposer statistics recorded.")); return; }
    const shareBar = (r) => el("span", { class: "share" }, el("span", { class: "share-bar" }, el("span", { style: `width:${clamp(r.share || 0, 0, 1) * 100}%` })), fmt.pct(r.share));
    const cols = [
      { key: "name", label: "proposer", sort: true, value: (r) => r.name },
      { key: "calls", label: "calls", num: true, sort: true, value: (r) => r.calls, render: (r) => fmt.int(r.calls) },
      { key: "evaluated", label: "evaluated", num: true, sort: true, value: (r) => r.evaluated, render: (r) => fmt.int(r.evaluated) },
      { key: "share", label: "evaluated share", num: true, sort: true, value: (r) => r.share, render: shareBar },
      { key: "gain", label: "mean gain", num: true, sort: true, title: "mean dev gain of its candidates over their best parent",
        value: (r) => r.gain, render: (r) => el("span", { class: r.gain > 0 ? "pos" : r.gain < 0 ? "neg" : "" }, fmt.delta(r.gain)) },
      { key: "pt", label: "prompt tokens", num: true, sort: true, value: (r) => r.pt, render: (r) => fmt.tokens(r.pt) },
      { key: "ct", label: "completion tokens", num: true, sort: true, value: (r) => r.ct, render: (r) => fmt.tokens(r.ct) },
      { key: "usd", label: "dollars", num: true, sort: true, value: (r) => r.usd, render: (r) => fmt.dollars(r.usd) },
    ];
    const sum = (k) => rows.reduce((a, r) => a + (r[k] || 0), 0);
    const calls = sum("calls"), ev = sum("evaluated");
    const footer = el("tr", null, el("td", null, "total"), el("td", { class: "num" }, fmt.int(calls)), el("td", { class: "num" }, fmt.int(ev)),
      el("td", { class: "num" }, fmt.pct(calls ? ev / calls : null)), el("td"), el("td", { class: "num" }, fmt.tokens(sum("pt"))),
      el("td", { class: "num" }, fmt.tokens(sum("ct"))), el("td", { class: "num" }, fmt.dollars(sum("usd"))));
    c.body.appendChild(el("div", { class: "scroll-x" }, sortableTable(cols, rows, { cls: "proposers", footer })));
  }

  // ---------------------------------------------------------------- main
  function main() {
    const app = document.getElementById("app") || document.body.appendChild(el("div", { id: "app" }));
    clear(app);
    const t0 = performance.now();
    const { data, error } = readData();
    const t1 = performance.now();
    M = buildModel(data);
    timings.parse = Math.round((t1 - t0) * 10) / 10;
    timings.model = Math.round((performance.now() - t1) * 10) / 10;
    if (error) app.appendChild(el("div", { class: "error-box page" }, "This report cannot show its run: " + error));
    renderNav(app);
    renderHeader(app);
    const main = el("main");
    app.appendChild(main);
    const curves = card("sec-curves", "Progress", { sub: "best dev so far, its test score, and every evaluated candidate" });
    const tree = card("sec-tree", "Family tree", { sub: `${M.cands.length} candidates`, cls: "tree-card" });
    const cand = card("sec-cand", "Candidate", { cls: "cand-card" });
    const plan = card("sec-plan", "Plan", { sub: "merge weights by layer and expert" });
    const pareto = card("sec-pareto", "Pareto", { sub: "dev scores of two tasks" });
    const scores = card("sec-scores", "Scores", { sub: "top candidates by dev beside the source models and default baselines" });
    const props = card("sec-proposers", "Proposers");
    main.append(curves.node, el("div", { class: "row two" }, tree.node, cand.node),
      el("div", { class: "row two" }, plan.node, pareto.node), scores.node, props.node);
    guarded(cand, renderCandidate);
    guarded(plan, renderPlan);
    guarded(curves, renderCurves);
    guarded(tree, renderTree);
    guarded(pareto, renderPareto);
    guarded(scores, renderScores);
    guarded(props, renderProposers);
    const gen = num(data.generated);
    app.appendChild(el("footer", null, `evomerge report · schema ${str(data.schema) || "unknown"}` + (gen !== null ? " · generated " + fmt.date(gen) : "") +
      ` · ${M.cands.length} candidates · data embedded in this file`));
    let first = null;
    try { first = decodeURIComponent((location.hash || "").slice(1)); } catch (e) { first = null; }
    const start = first && M.byId.has(first) ? first : M.best || (M.cands.length ? M.cands[M.cands.length - 1].id : null);
    const t2 = performance.now();
    if (start) select(start, { noHash: true, center: true });
    timings.select = Math.round((performance.now() - t2) * 10) / 10;
    window.addEventListener("hashchange", () => {
      let h = "";
      try { h = decodeURIComponent(location.hash.slice(1)); } catch (e) { h = ""; }
      if (M.byId.has(h) && h !== S.selected) select(h, { noHash: true, center: true });
    });
    document.addEventListener("scroll", () => tip.hide(), { passive: true });
    window.__evomergeTimings = timings;
    window.__evomergeReady = performance.now();
    document.documentElement.setAttribute("data-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
