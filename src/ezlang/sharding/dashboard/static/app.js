// The ezlang shard dashboard: polls /api/state every second and draws the shards and the
// identify queue. Actions send the token as "Authorization: Bearer <token>".
"use strict";

const $ = (id) => document.getElementById(id);
const DASH = "\u2014"; // shown for "no value yet" (ping before a heartbeat after READY, ...)
const WINDOW_MS = 60000;
const MIN_SPAN_MS = 10000;

const tokenInput = $("token");
tokenInput.value = sessionStorage.getItem("ezlang-dashboard-token") || "";
tokenInput.addEventListener("input", () => {
  sessionStorage.setItem("ezlang-dashboard-token", tokenInput.value);
});

function say(text, ok) {
  const box = $("message");
  box.textContent = text;
  box.className = ok ? "ok" : "error";
}

async function act(path, what) {
  const headers = {};
  const token = tokenInput.value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  let response;
  try {
    response = await fetch(path, { method: "POST", headers });
  } catch (err) {
    say(what + ": the manager did not answer (" + err + ")", false);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    say(what + " requested", true);
  } else {
    say(what + " refused (" + response.status + "): " + (body.error || response.statusText), false);
  }
}

$("restart").addEventListener("click", () => act("api/restart", "rolling restart"));

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function num(value, unit) {
  if (value === null || value === undefined) return DASH;
  return value.toLocaleString("en-US") + (unit || "");
}

function drawShards(state) {
  const body = document.querySelector("#shards tbody");
  body.textContent = "";
  const multi = state.multi_host;
  document.querySelectorAll("th.host").forEach((th) => { th.hidden = !multi; });
  for (const s of state.shards) {
    const tr = document.createElement("tr");
    tr.dataset.shard = s.shard_id;
    cell(tr, String(s.shard_id), "id");
    if (multi) cell(tr, s.host || DASH, "host");
    cell(tr, s.status, "status status-" + s.status);
    cell(tr, num(s.guilds), "guilds");
    cell(tr, num(s.users), "users");
    cell(tr, num(s.ping, " ms"), "ping");
    cell(tr, num(s.memory_mb, " MB"), "memory");
    cell(tr, s.events_per_s.toFixed(1), "rate");
    cell(tr, String(s.restarts), "restarts");
    const exit = s.last_exit;
    cell(tr, exit ? exit.reason + (exit.error ? ": " + exit.error : "") : DASH, "exit");
    const td = cell(tr, "", "act");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Respawn";
    button.className = "respawn";
    button.addEventListener("click", () => act("api/shards/" + s.shard_id + "/respawn", "respawn of shard " + s.shard_id));
    td.appendChild(button);
    body.appendChild(tr);
  }
}

function drawTimeline(state) {
  const q = state.identify;
  $("queue").textContent = "(" + q.depth + " waiting; " + (q.max_concurrency || "?") +
    " per " + (q.window || "?") + " s)";
  const box = $("timeline");
  box.textContent = "";
  // The last minute at most; less when everything happened recently, so bars stay readable.
  const first = Math.min(...q.timeline.map((row) => row.requested), state.now);
  const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, state.now - first + 1000));
  const start = state.now - span;
  const lanes = new Map();
  for (const row of q.timeline) {
    const end = row.granted || state.now;
    if (end < start) continue;
    if (!lanes.has(row.shard)) {
      const lane = document.createElement("div");
      lane.className = "lane";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = "shard " + row.shard;
      lane.appendChild(label);
      lanes.set(row.shard, lane);
    }
    const lane = lanes.get(row.shard);
    const pct = (t) => Math.max(0, (t - start) / span * 100);
    const wait = document.createElement("div");
    wait.className = "bar wait";
    wait.style.left = pct(row.requested) + "%";
    wait.style.width = Math.max(0.2, pct(end) - pct(row.requested)) + "%";
    wait.title = "shard " + row.shard + " waited " + ((end - row.requested) / 1000).toFixed(2) + " s";
    lane.appendChild(wait);
    if (row.granted) {
      const granted = document.createElement("div");
      granted.className = "bar granted";
      granted.style.left = pct(row.granted) + "%";
      lane.appendChild(granted);
    }
  }
  [...lanes.keys()].sort((a, b) => a - b).forEach((k) => box.appendChild(lanes.get(k)));
}

async function poll() {
  try {
    const response = await fetch("api/state");
    const state = await response.json();
    $("bot").textContent = state.bot + (state.host ? " on " + state.host : "");
    const ready = state.shards.filter((s) => s.status === "ready").length;
    $("summary").textContent = ready + "/" + state.shards.length + " shards ready" +
      (state.actions ? "" : " · actions off (no dashboard token)");
    drawShards(state);
    drawTimeline(state);
  } catch (err) {
    $("summary").textContent = "the manager does not answer (" + err + ")";
  }
  setTimeout(poll, 1000);
}

poll();
