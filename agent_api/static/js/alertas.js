// SLA alerts for supervisors, gerentes and admins, from /ws/wallboard (issue 5).
// Alerts are put in the page as text (textContent), never as markup. A refused
// or dropped socket is retried a few times with growing waits, then left to
// the person (a "Reconectar" button): never a loop.
"use strict";

(() => {
  const { MAX_RETRIES, delay, status: showStatus } = window.atiendeReconexion;
  // Keys (kind|queue) already shown or dismissed, so a standing alert repeated
  // in every wallboard frame is listed once and stays dismissed while it stands.
  const seen = new Set();
  let retries = 0;

  function key(alert) { return `${alert.kind}|${alert.queue}`; }

  function show(alert) {
    const list = document.getElementById("alerts-list");
    const k = key(alert);
    if (seen.has(k)) return;
    seen.add(k);
    const item = document.createElement("li");
    const queue = document.createElement("strong");
    queue.textContent = `${alert.queue} — `;
    const text = document.createElement("span");
    text.textContent = alert.message;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "secondary";
    dismiss.textContent = "Descartar";
    dismiss.setAttribute("aria-label", `Descartar alerta: ${alert.message}`);
    dismiss.addEventListener("click", () => {
      item.remove();
      document.getElementById("alerts-title").focus();
    });
    item.append(queue, text, " ", dismiss);
    list.prepend(item);
  }

  function status(text, retry) {
    const box = document.getElementById("alerts-status");
    showStatus(box, text, retry && (() => { retries = 0; connect(); }));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/wallboard`);
    let opened = false;
    socket.addEventListener("open", () => { opened = true; retries = 0; status("", false); });
    socket.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (_) { return; }
      if (frame.type === "alert") show(frame);
      else if (frame.type === "wallboard") {
        const standing = new Set((frame.alerts || []).map(key));
        for (const k of [...seen]) if (!standing.has(k)) seen.delete(k);
        for (const alert of frame.alerts || []) show(alert);
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4001 || event.code === 4003) { location.assign("/ingresar"); return; }
      retries += 1;
      if (!opened || retries > MAX_RETRIES) {
        status("Sin conexión con las alertas.", true);
        return;
      }
      setTimeout(connect, delay(retries));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.getElementById("alerts-list")) connect();
  });
})();
