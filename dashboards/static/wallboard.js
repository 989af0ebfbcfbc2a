"use strict";
// The wallboard: one WebSocket, frames {"type": "wallboard"} replace the
// tiles, the agent list and the waiting calls; {"type": "alert"} frames are
// already listed in the next wallboard frame, so they are not drawn twice.
// Opened as /kiosco/<token> (a kiosk link) it uses that link's socket and
// needs no session. A refused socket is not retried in a loop: the page says
// why and stops; a dropped one is retried with a growing delay.

const STATES = {
  available: "Libres",
  ringing: "Sonando",
  on_call: "En llamada",
  wrap_up: "Poscierre",
  paused: "En pausa",
  unavailable: "No disponibles",
  logged_out: "Desconectados",
};
const LEVEL_WORDS = { ok: "en objetivo", warn: "cerca del objetivo", bad: "bajo el objetivo", none: "sin llamadas" };
const TIME = new Intl.DateTimeFormat("es-UY", { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

function duration(seconds) {
  if (!seconds) return "0 s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) return `${h} h ${m} min`;
  return m ? `${m} min ${s} s` : `${s} s`;
}

function setText(root, selector, text, level) {
  const node = root.querySelector(selector);
  node.textContent = text;
  node.className = node.className.split(" ")[0] + (level ? ` ${level}` : "");
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
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
  const body = document.querySelector("#tabla-agentes tbody");
  body.replaceChildren();
  for (const agent of frame.agent_list || []) {
    const row = document.createElement("tr");
    const state = agent.reason ? `${agent.state_label} (${agent.reason})` : agent.state_label;
    row.append(
      cell(agent.name),
      cell(state, `estado-${agent.state}`),
      cell(duration(agent.seconds_in_state)),
      cell(agent.queues.join(", ")),
    );
    body.appendChild(row);
  }
  document.getElementById("sin-agentes").hidden = (frame.agent_list || []).length > 0;
}

function renderWaiting(frame) {
  const limits = Object.fromEntries(frame.queues.map((q) => [q.queue, q.wait_limit]));
  const body = document.querySelector("#tabla-espera tbody");
  body.replaceChildren();
  for (const call of frame.waiting_calls || []) {
    const row = document.createElement("tr");
    const late = limits[call.queue] !== undefined && call.wait > limits[call.queue];
    row.append(cell(call.queue), cell(duration(call.wait) + (late ? " (excedida)" : ""), late ? "espera-bad" : ""));
    body.appendChild(row);
  }
  document.getElementById("sin-espera").hidden = (frame.waiting_calls || []).length > 0;
}

function renderWalkin(frame) {
  const rows = frame.walkin || [];
  const body = document.querySelector("#tabla-presencial tbody");
  body.replaceChildren();
  for (const w of rows) {
    const row = document.createElement("tr");
    row.append(
      cell(`${w.point} · ${w.topic}`),
      cell(String(w.waiting)),
      cell(duration(w.longest_wait)),
      cell(w.within_target === null ? "—" : `${w.within_target} %`),
      cell(String(w.no_shows)),
      cell(w.satisfaction === null ? "—" : String(w.satisfaction).replace(".", ",")),
    );
    body.appendChild(row);
  }
  document.getElementById("sin-presencial").hidden = rows.length > 0;
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
  renderWaiting(frame);
  renderWalkin(frame);
  const updated = document.getElementById("actualizado");
  const at = frame.generated_at ? new Date(frame.generated_at * 1000) : new Date();
  updated.textContent = TIME.format(at);
  updated.dateTime = at.toISOString();
}

function tickClock() {
  const clock = document.getElementById("reloj");
  const now = new Date();
  clock.textContent = TIME.format(now);
  clock.dateTime = now.toISOString();
}

function socketPath() {
  const kiosk = location.pathname.match(/^\/kiosco\/([A-Za-z0-9_-]+)$/);
  return kiosk ? `/ws/kiosco/${kiosk[1]}` : "/ws/wallboard";
}

let delay = 2000;

function connect() {
  const status = document.getElementById("estado");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${socketPath()}`);
  let opened = false;
  socket.addEventListener("open", () => { opened = true; delay = 2000; status.textContent = "En vivo"; });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "wallboard") render(frame);
  });
  socket.addEventListener("close", (event) => {
    const kiosk = socketPath() !== "/ws/wallboard";
    if (event.code === 4403 || (!kiosk && !opened)) {
      // Refused (no session, or a revoked kiosk link): retrying would not help.
      status.textContent = kiosk
        ? "Este enlace de pizarra no es válido o fue revocado."
        : "Sin acceso: ingrese en el panel con un usuario supervisor, gerente o administrador.";
      return;
    }
    status.textContent = "Sin conexión — reintentando…";
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 60000);
  });
}

tickClock();
setInterval(tickClock, 1000);
connect();
