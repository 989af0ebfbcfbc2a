// Atiende agent panel. Every value from outside (caller names, person data,
// server messages) goes into the page through textContent, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { me: null, socket: null, call: null, person: null, answered: false };

const STATE_LABELS = {
  logged_out: "fuera de las colas", available: "disponible", paused: "en pausa",
  ringing: "sonando", on_call: "en llamada", wrap_up: "en cierre", unavailable: "no disponible",
};
const OUTCOME_LABELS = {
  answered: "atendida", abandoned: "abandonada", in_progress: "en curso",
  exit_timeout: "tiempo agotado", transferred: "transferida",
};
const RESOLUTION_LABELS = { resuelta: "resuelta", derivada: "derivada", pendiente: "pendiente" };

function setText(id, value) { $(id).textContent = value == null || value === "" ? "—" : String(value); }

function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith("atiende_csrf="));
  return match ? decodeURIComponent(match.slice("atiende_csrf=".length)) : "";
}

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") options.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.detalle || "Error inesperado.");
    error.status = response.status;
    throw error;
  }
  return data;
}

function listItems(id, items, render) {
  const list = $(id);
  list.replaceChildren();
  for (const item of items) {
    const li = document.createElement("li");
    li.textContent = render(item);
    list.appendChild(li);
  }
}

// ---------------------------------------------------------------- session

async function logIn(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    state.me = await api("POST", "/api/session", {
      username: $("username").value, password: $("password").value,
    });
    $("password").value = "";
    await showPanel();
  } catch (err) {
    $("login-error").textContent = err.message;
  }
}

async function logOut() {
  try { await api("DELETE", "/api/session"); } catch (_) { /* already gone */ }
  location.reload();
}

async function showPanel() {
  $("login-section").hidden = true;
  $("panel").hidden = false;
  $("whoami").hidden = false;
  setText("user-name", state.me.display_name);
  connectSocket();
  if (SUPERVISOR_ROLES.has(state.me.role)) connectAlerts();
  await Promise.allSettled([loadPauseReasons(), loadCatalog(), loadCalls(), loadState()]);
  $("pop-title").focus();
}

// ----------------------------------------------------------------- socket

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  state.socket = socket;
  socket.addEventListener("open", () => setText("connection", "Conectado"));
  socket.addEventListener("message", (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch (_) { return; }
    handleFrame(frame);
  });
  socket.addEventListener("close", (event) => {
    setText("connection", "Sin conexión");
    if (event.code === 4001 || event.code === 4003) { location.reload(); return; }
    if (state.socket === socket) setTimeout(connectSocket, 2000);
  });
}

// ------------------------------------------------------------ SLA alerts

const SUPERVISOR_ROLES = new Set(["supervisor", "gerente", "admin"]);
// Keys (kind|queue) already shown or dismissed, so a standing alert repeated in
// every wallboard frame is listed once and stays dismissed while it stands.
const alertsSeen = new Set();

function connectAlerts() {
  $("alerts-section").hidden = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/wallboard`);
  state.alertSocket = socket;
  socket.addEventListener("message", (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch (_) { return; }
    if (frame.type === "alert") showAlert(frame);
    else if (frame.type === "wallboard") {
      const standing = new Set((frame.alerts || []).map(alertKey));
      // A cleared alert may come back later and should be shown again then.
      for (const key of [...alertsSeen]) if (!standing.has(key)) alertsSeen.delete(key);
      for (const alert of frame.alerts || []) showAlert(alert);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4001 || event.code === 4003) return;
    if (state.alertSocket === socket) setTimeout(connectAlerts, 5000);
  });
}

function alertKey(alert) { return `${alert.kind}|${alert.queue}`; }

function showAlert(alert) {
  const key = alertKey(alert);
  if (alertsSeen.has(key)) return;
  alertsSeen.add(key);
  const item = document.createElement("li");
  const queue = document.createElement("strong");
  queue.textContent = `${alert.queue} — `;
  const text = document.createElement("span");
  text.textContent = alert.message;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.textContent = "Descartar";
  dismiss.setAttribute("aria-label", `Descartar alerta: ${alert.message}`);
  dismiss.addEventListener("click", () => {
    item.remove();
    $("alerts-title").focus();
  });
  item.append(queue, text, " ", dismiss);
  $("alerts-list").prepend(item);
}

function sameCall(frame) {
  return state.call && frame.call && state.call.system === frame.call.system
    && state.call.linkedid === frame.call.linkedid;
}

function handleFrame(frame) {
  switch (frame.type) {
    case "hello": setText("connection", "Conectado"); break;
    case "pop": showPop(frame); break;
    case "pop.person": if (sameCall(frame)) showPerson(frame); break;
    case "call.answered":
      if (sameCall(frame)) {
        state.answered = true; setText("pop-status", "En llamada"); openWrapup(); loadCallPerson();
      }
      break;
    case "call.taken":
    case "call.ring_no_answer":
      if (sameCall(frame) && !state.answered) clearPop();
      break;
    case "call.ended":
      if (sameCall(frame)) {
        setText("pop-status", "Llamada finalizada (" + (OUTCOME_LABELS[frame.outcome] || frame.outcome) + ")");
        if (frame.wrap_up) openWrapup();
        loadCalls();
      }
      break;
    case "agent.state": showState(frame.state, frame.reason); break;
    default: break;
  }
}

function showPop(frame) {
  state.call = frame.call;
  state.person = null;
  state.answered = false;
  $("pop-empty").hidden = true;
  $("pop").hidden = false;
  $("register-form").hidden = true;
  $("person-facts").hidden = true;
  setText("pop-status", "Sonando: llamada entrante");
  setText("pop-caller-name", frame.caller.name);
  setText("pop-caller-number", frame.caller.number);
  setText("pop-queue", frame.queue);
  setText("pop-wait", `${Math.round(frame.wait_seconds)} s`);
  setText("pop-ivr", (frame.ivr.path || []).join(" › "));
  setText("pop-topic", frame.ivr.topic);
  setText("person-status", "Buscando a la persona…");
  for (const id of ["person-candidates", "person-history", "person-requests"]) $(id).replaceChildren();
  $("reg-phone").value = frame.caller.number || "";
}

function showPerson(frame) {
  const status = frame.person_status;
  if (status === "demorada") { setText("person-status", "La búsqueda demora; los datos llegarán en breve."); return; }
  if (status === "error") { setText("person-status", "No se pudo buscar a la persona."); return; }
  if (status === "desconocida") {
    setText("person-status", "Persona no registrada. Puede registrarla con su consentimiento.");
    $("register-form").hidden = false;
    return;
  }
  if (status === "varias") {
    setText("person-status", "Varias personas usan este número:");
    listItems("person-candidates", frame.candidates, (c) => `${c.given_names} ${c.family_names}`);
    return;
  }
  const p = frame.person;
  state.person = p;
  setText("person-status", "Persona identificada");
  $("person-facts").hidden = false;
  setText("person-name", `${p.given_names} ${p.family_names}`);
  // Before answer the pop carries a summary (masked document, no contacts);
  // the whole record comes from loadCallPerson once the agent answers.
  setText("person-document", p.document_number || p.document_masked || "");
  setText("person-phones", (p.phones || []).map((x) => x.number).join(", "));
  setText("person-emails", (p.emails || []).map((x) => x.address).join(", "));
  setText("person-addresses", (p.addresses || []).map((x) => x.street).join("; "));
  listItems("person-history", frame.history || [], (h) => {
    const when = h.at ? new Date(h.at).toLocaleString("es-UY") : "";
    const result = h.resolution ? ` — ${RESOLUTION_LABELS[h.resolution] || h.resolution}` : "";
    return `${when}: ${h.kind} ${h.summary}${result}`;
  });
  listItems("person-requests", frame.open_requests || [],
    (r) => `${r.number} (${r.status}): ${r.request_type}, ${r.topic}`);
}

async function loadCallPerson() {
  const call = state.call;
  if (!call) return;
  const path = `/api/calls/${encodeURIComponent(call.system)}/${encodeURIComponent(call.linkedid)}/person`;
  try {
    const card = await api("GET", path);
    if (sameCall(card) && card.person_status === "identificada") showPerson(card);
  } catch (err) {
    setText("person-status", "No se pudieron leer los datos de la persona.");
  }
}

function clearPop() {
  state.call = null;
  $("pop").hidden = true;
  $("pop-empty").hidden = false;
}

// ------------------------------------------------------------------ state

function showState(value, reason) {
  setText("agent-state", STATE_LABELS[value] || value);
  $("agent-reason").textContent = reason ? `(${reason})` : "";
}

async function loadState() {
  const states = await api("GET", `/api/agents/${state.me.user_id}/state`);
  if (states.length) showState(states[0].state, states[0].reason);
}

async function loadPauseReasons() {
  const reasons = await api("GET", "/api/pause-reasons");
  const select = $("pause-reason");
  select.replaceChildren();
  for (const reason of reasons) {
    const option = document.createElement("option");
    option.value = reason;
    option.textContent = reason;
    select.appendChild(option);
  }
}

async function control(method, path, body) {
  const message = $("control-message");
  message.className = "";
  try {
    const answer = await api(method, path, body);
    message.textContent = answer.detalle + " El estado cambiará cuando la central lo confirme.";
  } catch (err) {
    message.className = "error";
    message.textContent = err.message;
  }
}

// ---------------------------------------------------------------- wrap-up

async function loadCatalog() {
  const topics = await api("GET", "/api/catalog");
  const select = $("wrapup-topic");
  for (const topic of topics) {
    const option = document.createElement("option");
    option.value = String(topic.id);
    option.textContent = topic.name;
    select.appendChild(option);
  }
}

function openWrapup() {
  if (!state.call) return;
  $("wrapup-section").hidden = false;
  $("wrapup-message").textContent = "";
  state.wrapupCall = state.call;
}

async function submitWrapup(event) {
  event.preventDefault();
  const call = state.wrapupCall;
  const message = $("wrapup-message");
  const resolution = document.querySelector('input[name="resolution"]:checked');
  if (!call) return;
  if (!$("wrapup-type").value || !resolution) {
    message.className = "error";
    message.textContent = "Toda atención debe tener tipo y resolución.";
    return;
  }
  const followUp = $("wrapup-follow-up").value;
  const body = {
    attention_type: $("wrapup-type").value,
    resolution: resolution.value,
    topic_id: $("wrapup-topic").value ? Number($("wrapup-topic").value) : null,
    notes: $("wrapup-notes").value,
    follow_up_at: followUp ? new Date(followUp).toISOString() : null,
    person_id: state.person ? state.person.id : null,
  };
  try {
    const saved = await api("PUT", `/api/wrapups/${encodeURIComponent(call.system)}/${encodeURIComponent(call.linkedid)}`, body);
    message.className = "ok";
    message.textContent = saved.ticket_number
      ? `Cierre registrado. Solicitud ${saved.ticket_number} creada.`
      : "Cierre registrado.";
    $("wrapup-form").reset();
    state.wrapupCall = null;
    loadCalls();
  } catch (err) {
    message.className = "error";
    message.textContent = err.message;
  }
}

async function register(event) {
  event.preventDefault();
  const consents = ["identificacion"];
  const phone = $("reg-phone").value.trim();
  if ($("reg-consent-contact").checked) consents.push("contacto");
  const body = {
    given_names: $("reg-given").value,
    family_names: $("reg-family").value,
    consents,
    phones: phone && $("reg-consent-contact").checked ? [phone] : [],
    call_system: state.call ? state.call.system : null,
    call_linkedid: state.call ? state.call.linkedid : null,
  };
  const cedula = $("reg-document").value.trim();
  if (cedula) { body.document_type = "ci"; body.document_number = cedula; }
  try {
    const person = await api("POST", "/api/persons", body);
    showPerson({ person_status: "identificada", person, history: [], open_requests: [] });
    $("register-form").hidden = true;
  } catch (err) {
    setText("person-status", err.message);
  }
}

// ------------------------------------------------------------------ calls

async function loadPending() {
  if (!state.me.permissions.includes("wrap_up")) return;
  const pending = await api("GET", "/api/wrapups/pending");
  $("pending-wrapups").textContent = pending.length
    ? `Atenciones sin cierre: ${pending.length}. Toda consulta debe tener su respuesta.`
    : "Todas sus atenciones de hoy tienen cierre.";
}

async function loadCalls() {
  loadPending().catch(() => {});
  const calls = await api("GET", "/api/calls/today?mine=true");
  const body = $("calls-body");
  body.replaceChildren();
  for (const call of calls) {
    const row = document.createElement("tr");
    const cells = [
      new Date(call.arrived_at).toLocaleTimeString("es-UY"),
      `${call.caller_name || ""} ${call.caller_number}`.trim(),
      call.queue || "",
      OUTCOME_LABELS[call.outcome] || call.outcome,
      call.wrapup_resolution ? RESOLUTION_LABELS[call.wrapup_resolution] : "sin cierre",
    ];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", async () => {
  $("pop-title").tabIndex = -1;
  $("alerts-title").tabIndex = -1;
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", logOut);
  $("wrapup-form").addEventListener("submit", submitWrapup);
  $("register-form").addEventListener("submit", register);
  $("calls-refresh").addEventListener("click", () => loadCalls());
  $("pause-form").addEventListener("submit", (e) => {
    e.preventDefault();
    control("POST", `/api/agents/${state.me.user_id}/pause`, { reason: $("pause-reason").value });
  });
  $("unpause").addEventListener("click", () => control("DELETE", `/api/agents/${state.me.user_id}/pause`));
  $("queue-form").addEventListener("submit", (e) => {
    e.preventDefault();
    control("POST", `/api/agents/${state.me.user_id}/queues/${encodeURIComponent($("queue-name").value)}`);
  });
  $("queue-leave").addEventListener("click",
    () => control("DELETE", `/api/agents/${state.me.user_id}/queues/${encodeURIComponent($("queue-name").value)}`));
  $("dial-form").addEventListener("submit", (e) => {
    e.preventDefault();
    control("POST", `/api/agents/${state.me.user_id}/calls`, { number: $("dial-number").value });
  });
  try {
    state.me = await api("GET", "/api/session");
    await showPanel();
  } catch (_) {
    $("username").focus();
  }
});
