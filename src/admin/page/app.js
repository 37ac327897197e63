// The ocpp-gateway status page. Plain JavaScript, no library, no build.
// Everything shown comes from the admin API: /status (published counters,
// polled once a second), /connections (a server-side page of at most
// PAGE_SIZE rows, refreshed every few seconds), /connections/{id} and its
// trace tail, /schemas for the command form. Text from the gateway (ids,
// boot fields, frames) is only ever set as textContent, never as HTML.
"use strict";

const PAGE_SIZE = 20;
const STATUS_EVERY_MS = 1000;
const LIST_EVERY_MS = 5000;
const DETAIL_EVERY_MS = 2000;
const TOKEN_KEY = "ocpp-gateway-token";

const $ = (id) => document.getElementById(id);
const state = {
  history: [],          // [unix_ms, connections, calls/s, callerrors/s]
  search: "",
  offset: 0,
  total: 0,
  listDue: 0,
  chargePoint: null,    // id shown on the charge point page
  subprotocol: null,    // its protocol, to load the right actions
  timers: [],
};

// ---- API ------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new Unauthorized();
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = { error: text }; }
  return { status: response.status, json };
}

function showLogin(message) {
  $("login").hidden = false;
  $("overview").hidden = true;
  $("charge-point").hidden = true;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function guarded(task) {
  return task().catch((e) => {
    if (e instanceof Unauthorized) {
      const had = sessionStorage.getItem(TOKEN_KEY);
      showLogin(had ? "That token was refused." : "");
    } else {
      $("updated").textContent = "gateway unreachable: " + e.message;
    }
  });
}

// ---- formatting -------------------------------------------------------------

const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const rate = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : Number(n).toFixed(1));

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
    tr.appendChild(td);
  }
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- overview -----------------------------------------------------------------

async function refreshStatus() {
  const first = state.history.length === 0;
  const { status, json } = await api("GET", first ? "/status?history=600" : "/status?history=5");
  if (status !== 200) return;
  $("login").hidden = true;
  $("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
  const health = $("health");
  health.textContent = json.status;
  health.className = "pill " + (json.status === "ok" ? "ok" : "bad");
  $("version").textContent = "v" + json.version;
  $("uptime").textContent = "up " + duration(json.uptime_seconds);
  $("updated").textContent = "updated " + new Date(json.at).toLocaleTimeString();

  const t = json.totals, r = json.rates;
  $("total-connections").textContent = number(t.connections);
  $("max-connections").textContent = "of " + number(t.max_connections);
  $("rate-handshakes").textContent = rate(r.handshakes);
  $("total-handshakes").textContent = number(t.handshakes) + " total, " + number(t.handshakes_refused) + " refused";
  $("rate-calls").textContent = rate(r.calls);
  $("total-calls").textContent = number(t.calls) + " total";
  $("rate-callerrors").textContent = rate(r.callerrors);
  $("total-callerrors").textContent = number(t.callerrors) + " total";
  $("rate-dead-peers").textContent = rate(r.dead_peers);
  $("total-dead-peers").textContent = number(t.dead_peers) + " total";
  $("rate-stalls").textContent = rate(r.backpressure_stalls);
  $("total-stalls").textContent = number(t.backpressure_stalls) + " total";

  fill($("reactors").tBodies[0], json.reactors.map((x) => {
    const tr = row([x.reactor, x.state, x.last_tick_age_ms === null ? "–" : x.last_tick_age_ms + " ms",
      number(x.connections), (x.busy * 100).toFixed(1) + " %", rate(x.calls_per_second),
      rate(x.frames_in_per_second)]);
    if (!x.ok) tr.className = "error";
    return tr;
  }));

  const p = json.processors, pipeline = [
    ["processor threads", p.threads],
    ["processor queue", `${number(p.queue_depth)} of ${number(p.queue_capacity)}`],
  ];
  if (json.journal) {
    pipeline.push(["journal lag", number(json.journal.lag) + " records"]);
    pipeline.push(["journal records written", number(json.journal.records_written)]);
    pipeline.push(["journal I/O errors", number(json.journal.io_errors)]);
  } else {
    pipeline.push(["journal", "off"]);
  }
  if (json.bus) {
    pipeline.push(["bus", json.bus.connected ? "connected" : "disconnected"]);
    pipeline.push(["bus backlog", bytes(json.bus.backlog_bytes)]);
    pipeline.push(["bus events published", number(json.bus.events_published)]);
    pipeline.push(["bus publish errors", number(json.bus.publish_errors)]);
  } else {
    pipeline.push(["bus", "off"]);
  }
  pipeline.push(["command queue", json.queue ? number(json.queue.depth) + " kept" : "off"]);
  fill($("pipeline").tBodies[0], pipeline.map(row));

  const newest = state.history.length ? state.history[state.history.length - 1][0] : 0;
  for (const sample of json.history.samples) {
    if (sample[0] > newest) state.history.push(sample);
  }
  state.history.splice(0, Math.max(0, state.history.length - 600));
  drawChart();
}

function drawChart() {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width) return;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const samples = state.history;
  const pad = { left: 56, right: 56, top: 10, bottom: 20 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const style = getComputedStyle(document.documentElement);
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = style.getPropertyValue("--line");
  g.fillStyle = style.getPropertyValue("--muted");
  g.strokeRect(pad.left, pad.top, w, h);
  if (samples.length < 2) {
    g.fillText("collecting samples…", pad.left + 8, pad.top + 16);
    return;
  }
  const t0 = samples[0][0], t1 = samples[samples.length - 1][0];
  const x = (t) => pad.left + (t1 === t0 ? w : ((t - t0) / (t1 - t0)) * w);
  const series = [
    { column: 2, color: style.getPropertyValue("--accent"), side: "left" },
    { column: 1, color: style.getPropertyValue("--conns"), side: "right" },
  ];
  for (const s of series) {
    const max = Math.max(1, ...samples.map((v) => v[s.column])) * 1.1;
    const y = (v) => pad.top + h - (v / max) * h;
    g.strokeStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    samples.forEach((v, i) => (i ? g.lineTo(x(v[0]), y(v[s.column])) : g.moveTo(x(v[0]), y(v[s.column]))));
    g.stroke();
    g.fillStyle = s.color;
    g.textAlign = s.side === "left" ? "right" : "left";
    const at = s.side === "left" ? pad.left - 4 : pad.left + w + 4;
    g.fillText(rate(max), at, pad.top + 10);
    g.fillText("0", at, pad.top + h);
  }
  g.fillStyle = style.getPropertyValue("--muted");
  g.textAlign = "left";
  g.fillText(new Date(t0).toLocaleTimeString(), pad.left, height - 4);
  g.textAlign = "right";
  g.fillText(new Date(t1).toLocaleTimeString(), pad.left + w, height - 4);
}

async function refreshList() {
  state.listDue = Date.now() + LIST_EVERY_MS;
  const query = new URLSearchParams({ offset: state.offset, limit: PAGE_SIZE, search: state.search });
  const { status, json } = await api("GET", "/connections?" + query);
  if (status !== 200) {
    $("list-error").textContent = (json && json.error) || "HTTP " + status;
    return;
  }
  $("list-error").textContent = "";
  state.total = json.total;
  if (state.offset > 0 && state.offset >= json.total) {
    state.offset = Math.max(0, Math.floor((json.total - 1) / PAGE_SIZE) * PAGE_SIZE);
    return refreshList();
  }
  const first = json.total ? json.offset + 1 : 0;
  $("list-range").textContent = `${number(first)}–${number(json.offset + json.connections.length)} of ${number(json.total)}`
    + (state.search ? ` matching “${state.search}”` : "");
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE_SIZE >= json.total;
  fill($("connections").tBodies[0], json.connections.map((c) => {
    const link = document.createElement("a");
    link.href = "#/cp/" + encodeURIComponent(c.id);
    link.textContent = c.id;
    const boot = c.boot ? [c.boot.vendor, c.boot.model].filter(Boolean).join(" / ") : "no boot yet";
    const tr = row([link, c.subprotocol, boot, c.profile || "", time(c.connected_at), time(c.last_frame_at),
      c.remote_address, c.reactor]);
    tr.dataset.id = c.id;
    tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.hash = link.hash; });
    return tr;
  }));
}

const time = (rfc3339) => (rfc3339 ? new Date(rfc3339).toLocaleString() : "");

// ---- one charge point ------------------------------------------------------------

async function refreshChargePoint() {
  const id = state.chargePoint;
  const path = "/connections/" + encodeURIComponent(id);
  const { status, json } = await api("GET", path);
  if (id !== state.chargePoint) return;
  if (status !== 200) {
    $("cp-error").textContent = (json && json.error) || "HTTP " + status;
    fill($("cp-details").tBodies[0], []);
    return;
  }
  $("cp-error").textContent = "";
  const details = [
    ["protocol", json.subprotocol],
    ["remote address", json.remote_address],
    ["connected since", time(json.connected_at)],
    ["last frame", time(json.last_frame_at)],
    ["reactor", json.reactor],
    ["profile", json.profile || "none"],
    ["traced", json.traced ? (json.trace_until ? "until " + time(json.trace_until) : "yes (profile)") : "no"],
  ];
  if (json.boot) {
    for (const [key, value] of Object.entries(json.boot)) details.push(["boot: " + key, String(value)]);
  } else {
    details.push(["boot", "no BootNotification yet"]);
  }
  fill($("cp-details").tBodies[0], details.map(row));
  if (state.subprotocol !== json.subprotocol) {
    state.subprotocol = json.subprotocol;
    await loadActions();
  }
  await refreshFrames(json.traced);
}

async function refreshFrames(traced) {
  const id = state.chargePoint;
  const { status, json } = await api("GET", "/connections/" + encodeURIComponent(id) + "/trace?lines=50");
  if (id !== state.chargePoint) return;
  if (status !== 200) {
    $("frames-note").textContent = traced ? (json && json.error) || "" : "(start a trace to see frames)";
    fill($("frames").tBodies[0], []);
    return;
  }
  $("frames-note").textContent = traced ? "(tracing)" : "(from the last trace)";
  const rows = json.lines.slice().reverse().map((l) => {
    const tr = row([l.at ? new Date(l.at).toLocaleTimeString() : "", l.dir || "", l.kind || "",
      l.frame !== undefined ? l.frame : JSON.stringify(l)]);
    tr.lastChild.className = "frame";
    return tr;
  });
  fill($("frames").tBodies[0], rows);
}

async function loadActions() {
  const { status, json } = await api("GET", "/schemas/" + encodeURIComponent(state.subprotocol));
  const select = $("action");
  if (status !== 200) { select.replaceChildren(); return; }
  select.replaceChildren(...json.actions.map((a) => new Option(a, a)));
  if (json.actions.includes("Reset")) select.value = "Reset";
  await loadSchema();
}

async function loadSchema() {
  const action = $("action").value;
  if (!action) return;
  const path = "/schemas/" + encodeURIComponent(state.subprotocol) + "/" + encodeURIComponent(action);
  const { status, json } = await api("GET", path);
  if (status !== 200) return;
  $("schema").textContent = JSON.stringify(json, null, 2);
  $("payload").value = JSON.stringify(skeleton(json, json), null, 2);
}

// A payload with the schema's required properties, each a placeholder of
// its type (the first enum value where there is one).
function skeleton(schema, root, depth = 0) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return skeleton((root.definitions || {})[name] || {}, root, depth + 1);
  }
  if (!schema || depth > 8) return null;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case "object": {
      const out = {};
      for (const key of schema.required || []) {
        out[key] = skeleton((schema.properties || {})[key], root, depth + 1);
      }
      return out;
    }
    case "array": return [];
    case "integer": case "number": return 0;
    case "boolean": return false;
    case "string": return schema.format === "date-time" ? new Date().toISOString() : "";
    default: return null;
  }
}

async function sendCommand(event) {
  event.preventDefault();
  let payload;
  try {
    payload = JSON.parse($("payload").value || "{}");
  } catch (e) {
    showAnswer("bad JSON", 400, e.message);
    return;
  }
  const body = { action: $("action").value, payload, timeout_ms: Number($("timeout").value) || 30000 };
  $("send").disabled = true;
  showAnswer("waiting for the charge point…", 0, "");
  try {
    const { status, json } = await api("POST", "/connections/" + encodeURIComponent(state.chargePoint) + "/calls", body);
    const label = status === 200 ? "answered" : status === 502 ? "CALLERROR" : status === 504 ? "timeout" : "refused";
    showAnswer(`${status} ${label}`, status, JSON.stringify(json, null, 2));
  } finally {
    $("send").disabled = false;
  }
}

function showAnswer(label, status, text) {
  $("answer-box").hidden = false;
  const pill = $("answer-status");
  pill.textContent = label;
  pill.className = "pill " + (status === 200 ? "ok" : status ? "bad" : "");
  $("answer").textContent = text;
}

async function chargePointAction(method, path, body, done) {
  const { status, json } = await api(method, "/connections/" + encodeURIComponent(state.chargePoint) + path, body);
  $("cp-action-result").textContent = status === 200 ? done : (json && json.error) || "HTTP " + status;
  await refreshChargePoint();
}

// ---- navigation -----------------------------------------------------------------

function every(ms, task) {
  const run = () => guarded(task);
  run();
  state.timers.push(setInterval(run, ms));
}

function route() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  const match = location.hash.match(/^#\/cp\/(.+)$/);
  $("overview").hidden = !!match;
  $("charge-point").hidden = !match;
  every(STATUS_EVERY_MS, async () => {
    await refreshStatus();
    if (!match && Date.now() >= state.listDue) await refreshList();
  });
  if (match) {
    state.chargePoint = decodeURIComponent(match[1]);
    state.subprotocol = null;
    $("cp-id").textContent = state.chargePoint;
    $("answer-box").hidden = true;
    $("cp-action-result").textContent = "";
    every(DETAIL_EVERY_MS, refreshChargePoint);
  } else {
    state.chargePoint = null;
    state.listDue = 0;
  }
}

function start() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    $("login").hidden = true;
    state.history = [];
    route();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(""); });
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.search = $("search").value.trim();
      state.offset = 0;
      guarded(refreshList);
    }, 250);
  });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); guarded(refreshList); });
  $("next").addEventListener("click", () => { state.offset += PAGE_SIZE; guarded(refreshList); });
  $("action").addEventListener("change", () => guarded(loadSchema));
  $("command-form").addEventListener("submit", (e) => guarded(() => sendCommand(e)));
  $("disconnect").addEventListener("click", () => {
    if (confirm(`Close the connection of ${state.chargePoint}?`)) {
      guarded(() => chargePointAction("DELETE", "", undefined, "closed (1000)"));
    }
  });
  $("trace-start").addEventListener("click", () => guarded(() => chargePointAction("POST", "/trace", { minutes: 10 }, "tracing for 10 minutes")));
  $("trace-stop").addEventListener("click", () => guarded(() => chargePointAction("DELETE", "/trace", undefined, "trace stopped")));
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", drawChart);
  route();
}

start();
