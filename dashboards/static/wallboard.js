"use strict";
// The wallboard: one WebSocket, frames {"type": "wallboard"} replace the
// tiles, {"type": "alert"} frames are already listed in the next wallboard
// frame, so they only refresh the title to draw the eye.

const STATES = {
  available: "Libres",
  ringing: "Sonando",
  on_call: "En llamada",
  wrap_up: "Posllamada",
  paused: "En pausa",
  unavailable: "No disponibles",
  logged_out: "Desconectados",
};
const LEVEL_WORDS = { ok: "en objetivo", warn: "cerca del objetivo", bad: "bajo el objetivo", none: "sin llamadas" };

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

function duration(seconds) {
  if (!seconds) return "0 s";
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m ? `${m} min ${s} s` : `${s} s`;
}

function setText(root, selector, text, level) {
  const node = root.querySelector(selector);
  node.textContent = text;
  node.className = node.className.split(" ")[0] + (level ? ` ${level}` : "");
}

function renderTiles(frame) {
  const holder = document.getElementById("colas");
  const template = document.getElementById("tile");
  holder.replaceChildren();
  for (const q of frame.queues) {
    const tile = template.content.firstElementChild.cloneNode(true);
    tile.classList.add(q.level);
    tile.querySelector(".nombre").textContent = q.queue;
    setText(tile, ".waiting", String(q.waiting), q.waiting && q.wait_level === "bad" ? "bad" : "");
    setText(tile, ".longest", duration(q.longest_wait), q.wait_level === "bad" ? "bad" : "");
    setText(tile, ".sl", percent(q.service_level), q.level === "none" ? "" : q.level);
    setText(tile, ".abandon", percent(q.abandon_rate), "");
    const a = q.agents || {};
    setText(tile, ".agents", `${a.available || 0} / ${a.on_call || 0} / ${a.paused || 0}`, "");
    setText(tile, ".needed", q.agents_needed === null ? "—" : String(q.agents_needed), "");
    tile.querySelector(".detalle").textContent =
      `Objetivo ${percent(q.sl_target)} en ${q.sl_seconds} s — ${LEVEL_WORDS[q.level]}. ` +
      `Últimos ${Math.round(frame.window_seconds / 60)} min: ${q.offered} ofrecidas, ` +
      `${q.answered} atendidas, ${q.abandoned} abandonadas.`;
    holder.appendChild(tile);
  }
}

function renderAgents(frame) {
  const list = document.getElementById("agentes-estados");
  list.replaceChildren();
  for (const [state, label] of Object.entries(STATES)) {
    const row = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = String(frame.agents[state] || 0);
    row.append(dt, dd);
    list.appendChild(row);
  }
}

function renderAlerts(frame) {
  const list = document.getElementById("lista-alertas");
  list.replaceChildren();
  for (const alert of frame.alerts) {
    const item = document.createElement("li");
    item.textContent = alert.message;
    list.appendChild(item);
  }
  document.title = frame.alerts.length
    ? `(${frame.alerts.length}) Atiende — Pizarra de colas`
    : "Atiende — Pizarra de colas";
}

function render(frame) {
  renderAlerts(frame);
  renderTiles(frame);
  renderAgents(frame);
}

function connect() {
  const status = document.getElementById("estado");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/wallboard`);
  let opened = false;
  socket.addEventListener("open", () => { opened = true; status.textContent = "En vivo"; });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "wallboard") render(frame);
  });
  socket.addEventListener("close", () => {
    if (!opened) {
      status.textContent = "Sin acceso: ingrese en el panel con un usuario supervisor, gerente o administrador.";
      setTimeout(connect, 10000);
      return;
    }
    status.textContent = "Sin conexión — reintentando…";
    setTimeout(connect, 2000);
  });
}

connect();
