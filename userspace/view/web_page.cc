// The web view's page: one HTML document, its style and script inline, nothing fetched from
// elsewhere (nodes often have no internet). It reads api/traces, api/trace and
// api/service-map relative to its own address, so it works at "/" and under "/view/".

#include "userspace/view/web_view.h"

namespace ztrace::view {

const std::string& web_page() {
  static const std::string page = R"ZTRACE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ztrace view</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:13px/1.4 system-ui,sans-serif;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:16px;align-items:center;padding:8px 14px;background:#1d2330;color:#fff}
header h1{font-size:15px;margin:0}
header button{background:none;border:0;color:#aab;font:inherit;cursor:pointer;padding:4px 8px}
header button.on{color:#fff;border-bottom:2px solid #6cf}
#status{margin-left:auto;color:#aab;font-size:12px}
main{display:flex;height:calc(100vh - 40px)}
#list{width:34%;min-width:280px;border-right:1px solid #dde;overflow:auto;background:#fff}
#search{width:calc(100% - 20px);margin:8px;padding:6px;border:1px solid #ccd;border-radius:4px}
.trace{padding:6px 10px;border-bottom:1px solid #eef;cursor:pointer}
.trace:hover{background:#eef4ff}.trace.on{background:#dde9ff}
.trace .id{font-family:monospace;font-size:12px}.trace .meta{color:#667;font-size:12px}
.err{color:#c0262d;font-weight:600}
#detail{flex:1;overflow:auto;padding:10px 14px}
.span{display:flex;align-items:center;height:22px;cursor:pointer;border-radius:3px}
.span:hover{background:#eef4ff}.span.on{background:#dde9ff}
.span .label{box-sizing:border-box;width:46%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.span .svc{width:14%;color:#556;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.span .dur{width:9%;text-align:right;padding-right:8px;font-family:monospace;font-size:12px}
.span .lane{flex:1;position:relative;height:12px;background:#eef0f4;border-radius:2px}
.span .bar{position:absolute;top:0;height:12px;min-width:2px;background:#4a8fe7;border-radius:2px}
.span.error .bar{background:#d9434a}.span.missing .label{color:#a06000;font-style:italic}
.kind{font-size:10px;color:#fff;background:#889;border-radius:3px;padding:0 4px;margin-right:4px}
#attributes table,#edges{border-collapse:collapse;margin-top:10px}
#attributes td,#edges td,#edges th{border:1px solid #dde;padding:3px 8px;font-family:monospace;font-size:12px}
#map svg{background:#fff;border:1px solid #dde;border-radius:4px}
.hidden{display:none}
</style></head>
<body>
<header><h1>ztrace view</h1>
<button id="tab-traces" class="on">Traces</button><button id="tab-map">Service map</button>
<span id="status"></span></header>
<main id="traces-view">
<section id="list"><input id="search" placeholder="search: trace id, service, error">
<div id="trace-list"></div></section>
<section id="detail"><p>Pick a trace.</p></section>
</main>
<main id="map" class="hidden"><section id="detail-map" style="padding:10px 14px;overflow:auto;flex:1"></section></main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const api = (path) => fetch(path).then((r) => r.json());

let searchTimer = null;
function loadList() {
  api("api/traces?q=" + encodeURIComponent($("search").value.trim())).then((data) => {
    $("status").textContent = data.matched + " of " + data.total + " traces, " + data.spans +
        " spans" + (data.problems ? " \u2014 " + data.problems : "");
    const list = $("trace-list");
    list.replaceChildren();
    for (const t of data.traces) {
      const row = el("div", "trace");
      row.dataset.traceId = t.trace_id;
      row.append(el("div", "id", t.trace_id));
      const meta = el("div", "meta", t.start + "  " + t.duration + "  " + t.services.join(", "));
      if (t.error) meta.prepend(el("span", "err", "ERROR "));
      row.append(meta);
      row.onclick = () => openTrace(t.trace_id);
      list.append(row);
    }
  });
}

// The spans as a tree: children by start time; a span whose parent is not in the trace
// hangs under a "parent not seen" node.
function buildTree(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, {span: s, children: []}]));
  const roots = [];
  const missing = new Map();
  for (const node of byId.values()) {
    const parent = node.span.parent_span_id;
    if (!parent || parent === node.span.span_id) roots.push(node);
    else if (byId.has(parent)) byId.get(parent).children.push(node);
    else {
      if (!missing.has(parent)) {
        const m = {missing: parent, children: []};
        missing.set(parent, m);
        roots.push(m);
      }
      missing.get(parent).children.push(node);
    }
  }
  const start = (n) => n.span ? n.span.start_ns : start(n.children[0]);
  const order = (list) => {
    list.sort((a, b) => start(a) - start(b));
    list.forEach((n) => order(n.children));
  };
  order(roots);
  return roots;
}

function openTrace(id) {
  for (const row of document.querySelectorAll(".trace")) {
    row.classList.toggle("on", row.dataset.traceId === id);
  }
  api("api/trace?id=" + encodeURIComponent(id)).then((trace) => {
    const detail = $("detail");
    detail.replaceChildren();
    const title = el("h2", null, "trace " + trace.trace_id);
    title.style.fontSize = "14px";
    detail.append(title, el("div", "meta", trace.start + "  " + trace.duration + "  " +
                                             trace.spans.length + " spans"));
    const tree = el("div");
    tree.id = "waterfall";
    const total = Math.max(trace.duration_ns, 1);
    const attributes = el("div");
    attributes.id = "attributes";
    const add = (node, depth) => {
      const row = el("div", "span");
      row.dataset.depth = depth;
      const label = el("span", "label");
      label.style.paddingLeft = (depth * 16 + 4) + "px";
      if (node.missing) {
        row.classList.add("missing");
        label.textContent = "? parent not seen (" + node.missing + ")";
        row.append(label);
      } else {
        const s = node.span;
        row.dataset.spanId = s.span_id;
        if (s.error) row.classList.add("error");
        label.append(el("span", "kind", s.kind.toLowerCase()),
                     el("span", "name", s.name + (s.detail ? " " + s.detail : "")));
        if (s.outcome) label.append(el("span", s.error ? "err" : "meta", " " + s.outcome));
        const lane = el("span", "lane");
        const bar = el("span", "bar");
        bar.style.left = (100 * s.start_ns / total) + "%";
        bar.style.width = (100 * s.duration_ns / total) + "%";
        lane.append(bar);
        row.append(label, el("span", "svc", s.service), el("span", "dur", s.duration), lane);
        row.onclick = () => {
          for (const r of tree.querySelectorAll(".span")) r.classList.remove("on");
          row.classList.add("on");
          showAttributes(s, attributes);
        };
      }
      tree.append(row);
      node.children.forEach((c) => add(c, depth + 1));
    };
    buildTree(trace.spans).forEach((n) => add(n, 0));
    detail.append(tree, attributes);
  });
}

function showAttributes(span, into) {
  const table = el("table");
  const row = (k, v) => {
    const tr = el("tr");
    tr.append(el("td", null, k), el("td", null, typeof v === "string" ? v : JSON.stringify(v)));
    table.append(tr);
  };
  row("span_id", span.span_id);
  row("parent_span_id", span.parent_span_id || "(root)");
  row("kind", span.kind);
  row("service.name", span.service);
  row("duration", span.duration);
  if (span.error) row("status", "ERROR " + span.status_message);
  for (const [k, v] of Object.entries(span.attributes || {})) row(k, v);
  into.replaceChildren(el("h3", null, span.name + (span.detail ? " " + span.detail : "")), table);
}

// Services in columns by their distance from a service nobody calls; an arrow per edge.
function loadMap() {
  api("api/service-map").then((data) => {
    const into = $("detail-map");
    into.replaceChildren();
    const names = data.services.map((s) => s.name);
    const callers = new Map(names.map((n) => [n, []]));
    for (const e of data.edges) callers.get(e.server).push(e.client);
    const level = new Map();
    const depth = (n, seen) => {
      if (level.has(n)) return level.get(n);
      if (seen.has(n)) return 0;
      seen.add(n);
      const d = Math.max(-1, ...callers.get(n).map((c) => depth(c, seen))) + 1;
      level.set(n, d);
      return d;
    };
    names.forEach((n) => depth(n, new Set()));
    const columns = [];
    for (const n of names) (columns[level.get(n)] ||= []).push(n);
    const at = new Map();
    columns.forEach((col, x) => col.forEach((n, y) => at.set(n, [40 + x * 190, 40 + y * 70])));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const width = 80 + columns.length * 190;
    const height = 80 + Math.max(1, ...columns.map((c) => c.length)) * 70;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const defs = document.createElementNS(ns, "defs");
    defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" ' +
        'markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0L10,5L0,10z" ' +
        'fill="#667"/></marker>';
    svg.append(defs);
    for (const e of data.edges) {
      const [x1, y1] = at.get(e.client);
      const [x2, y2] = at.get(e.server);
      const line = document.createElementNS(ns, "line");
      Object.entries({x1: x1 + 140, y1: y1 + 15, x2: x2, y2: y2 + 15}).forEach(
          ([k, v]) => line.setAttribute(k, v));
      line.setAttribute("stroke", e.errors ? "#d9434a" : "#667");
      line.setAttribute("marker-end", "url(#arrow)");
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", (x1 + 140 + x2) / 2 - 20);
      label.setAttribute("y", (y1 + y2) / 2 + 10);
      label.setAttribute("font-size", "11");
      label.textContent = e.calls + (e.errors ? " (" + e.errors + " err)" : "");
      svg.append(line, label);
    }
    for (const [n, [x, y]] of at) {
      const box = document.createElementNS(ns, "rect");
      Object.entries({x, y, width: 140, height: 30, rx: 5, fill: "#dde9ff", stroke: "#4a8fe7"})
          .forEach(([k, v]) => box.setAttribute(k, v));
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", x + 8);
      text.setAttribute("y", y + 19);
      text.textContent = n.length > 20 ? n.slice(0, 19) + "\u2026" : n;
      svg.append(box, text);
    }
    const table = el("table");
    table.id = "edges";
    const head = el("tr");
    ["client", "server", "calls", "errors"].forEach((h) => head.append(el("th", null, h)));
    table.append(head);
    for (const e of data.edges) {
      const tr = el("tr");
      [e.client, e.server, e.calls, e.errors].forEach((v) => tr.append(el("td", null, String(v))));
      table.append(tr);
    }
    into.append(svg, table);
  });
}

function tab(which) {
  $("tab-traces").classList.toggle("on", which === "traces");
  $("tab-map").classList.toggle("on", which === "map");
  $("traces-view").classList.toggle("hidden", which !== "traces");
  $("map").classList.toggle("hidden", which !== "map");
  if (which === "map") loadMap();
}
$("tab-traces").onclick = () => tab("traces");
$("tab-map").onclick = () => tab("map");
$("search").oninput = () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadList, 200);
};
loadList();
</script></body></html>
)ZTRACE";
  return page;
}

}  // namespace ztrace::view
