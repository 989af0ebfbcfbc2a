// The agent's workspace: places what the server rendered (over /ws/agente)
// and adds what only a browser can do (timers, title flash, sound, desktop
// notification, keyboard shortcuts, focus). The server decides what is shown
// (agent_api/workspace.py); nothing here builds markup from data.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { MAX_RETRIES, delay, status } = window.atiendeReconexion;
  let socket = null;
  let wasOpen = false;
  let retries = 0;
  let flashTimer = null;
  const baseTitle = document.title;

  // ------------------------------------------------------------ socket

  function setConnection(text, withRetry) {
    status($("conexion"), text, withRetry && (() => { retries = 0; connect(); }));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let path = $("conexion").dataset.socket;
    // Only the page's first socket keeps the person area a link filled
    // (/agente?persona=ID, ?solicitud=N); a reconnect redraws it.
    const params = new URLSearchParams(location.search);
    if (!wasOpen && (params.has("persona") || params.has("solicitud"))) {
      path += "?conservar=persona";
    }
    setConnection("Conectando…", false);
    const current = new WebSocket(`${scheme}//${location.host}${path}`);
    socket = current;
    let opened = false;
    current.addEventListener("open", () => {
      opened = true;
      wasOpen = true;
      retries = 0;
      setConnection("Conectado", false);
      document.body.dataset.socket = "open";
    });
    current.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.type === "swap") applySwap(message);
      else if (message.type === "refresh") refreshPanels(message.panels || []);
    });
    current.addEventListener("close", (event) => {
      if (socket !== current) return;
      document.body.dataset.socket = "closed";
      if (event.code === 4001 || event.code === 4003) {
        location.assign("/ingresar");
        return;
      }
      // A connection refused at once (session gone, not allowed) is not
      // retried in a loop: the agent decides. A dropped one is retried a few
      // times with growing waits.
      if (!opened && !wasOpen) {
        setConnection("Sin conexión con el servidor.", true);
        return;
      }
      retries += 1;
      if (retries > MAX_RETRIES) {
        setConnection("Sin conexión con el servidor.", true);
        return;
      }
      setConnection(`Conexión perdida; reintentando (${retries} de ${MAX_RETRIES})…`, false);
      setTimeout(connect, delay(retries));
    });
  }

  // The server says which htmx panels to read again (the callback offer);
  // the panel's own hx-get brings what the server decides to show.
  function refreshPanels(names) {
    if (!window.htmx) return;
    for (const name of names) {
      const panel = document.querySelector(`[data-refresh="${CSS.escape(name)}"]`);
      if (panel) window.htmx.trigger(panel, "refrescar");
    }
  }

  // ------------------------------------------------------------- swaps

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function replaceRegion(id, html) {
    const old = $(id);
    const fresh = parse(html);
    if (!old || !fresh) return;
    // Keep the search box's text and focus when the person area is redrawn
    // only if the agent is typing in it (the person shown changes anyway).
    old.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
  }

  function visibleForm() {
    return document.querySelector("#cierre-formularios > form.wrapup:not([hidden])");
  }

  function showForm(domId) {
    const forms = document.querySelectorAll("#cierre-formularios > .wrapup");
    let found = false;
    for (const form of forms) {
      const mine = form.id === `cierre-${domId}`;
      form.hidden = !mine;
      found = found || mine;
    }
    markTabs();
    return found;
  }

  function markTabs() {
    const shown = visibleForm();
    for (const tab of document.querySelectorAll("#cierres [data-tab]")) {
      tab.setAttribute("aria-pressed", shown && tab.dataset.tab === shown.dataset.call ? "true" : "false");
    }
  }

  function applySwap(message) {
    const regions = message.regions || {};
    for (const [id, html] of Object.entries(regions)) replaceRegion(id, html);
    const container = $("cierre-formularios");
    for (const html of message.add || []) {
      const form = parse(html);
      if (!form || $(form.id)) continue; // never replace a form in progress
      form.hidden = true;
      container.append(form);
      restoreDraft(form);
      if (window.htmx) window.htmx.process(form);
    }
    for (const id of message.remove || []) {
      const element = $(id);
      // A form whose own save is in flight is replaced by its confirmation
      // (htmx swap), which then leaves by itself.
      if (!element || element.classList.contains("htmx-request")) continue;
      if (element.dataset.saved) setTimeout(() => element.remove(), 6000);
      else element.remove();
    }
    // The server names the form to bring forward only when the agent's call
    // ended or a pending one was opened; otherwise the agent's choice stays.
    if (message.focus) {
      const domId = message.focus.replace(/^cierre-/, "");
      showForm(domId);
      const form = $(message.focus);
      const field = form && form.querySelector("select, input, textarea");
      if (field) field.focus();
    } else if (!visibleForm() && message.active) {
      showForm(message.active);
    } else {
      markTabs();
    }
    linkPerson();
    if (message.ring) ring(message.ring.title);
    else if (regions.llamada && !document.querySelector("#llamada.ringing")) stopFlash();
  }

  // Drafts: what the agent typed in each call's form is also kept in this
  // tab's sessionStorage (gone with the tab), so a reload does not lose it.
  const DRAFT = "atiende-cierre:";
  const DRAFT_FIELDS = ["attention_type", "topic_id", "notes", "follow_up_date", "follow_up_time"];

  function saveDraft(form) {
    const data = {};
    for (const name of DRAFT_FIELDS) {
      const field = form.elements.namedItem(name);
      if (field) data[name] = field.value;
    }
    const chosen = form.querySelector("input[name=resolution]:checked");
    if (chosen) data.resolution = chosen.value;
    try { sessionStorage.setItem(DRAFT + form.dataset.call, JSON.stringify(data)); } catch (_) { /* full or off */ }
  }

  function restoreDraft(form) {
    let data = null;
    try { data = JSON.parse(sessionStorage.getItem(DRAFT + form.dataset.call) || "null"); } catch (_) { data = null; }
    if (!data) return;
    for (const name of DRAFT_FIELDS) {
      const field = form.elements.namedItem(name);
      if (field && data[name] && !field.value) field.value = data[name];
    }
    if (data.resolution) {
      const radio = form.querySelector(`input[name=resolution][value="${CSS.escape(data.resolution)}"]`);
      if (radio && !form.querySelector("input[name=resolution]:checked")) radio.checked = true;
    }
  }

  function dropDraft(domId) {
    try { sessionStorage.removeItem(DRAFT + domId); } catch (_) { /* off */ }
  }

  // The person identified for a call goes into that call's wrap-up, unless
  // the agent already linked someone there.
  function linkPerson() {
    const area = $("persona");
    if (!area || !area.dataset.personId) return;
    const form = $(`cierre-${area.dataset.call}`);
    if (!form || form.tagName !== "FORM") return;
    const field = form.querySelector("input[name=person_id]");
    if (field.value) return;
    field.value = area.dataset.personId;
    form.querySelector("input[name=person_name]").value = area.dataset.personName;
    form.querySelector(".linked-person").textContent = area.dataset.personName;
  }

  // The linked person's phones and emails, offered for a pending case's way back.
  function offerContacts(form, lines) {
    const list = form.querySelector("datalist");
    if (!list) return;
    list.replaceChildren();
    for (const value of lines.split("\n")) {
      if (!value) continue;
      const option = document.createElement("option");
      option.value = value;
      list.append(option);
    }
  }

  // ------------------------------------------------------------ ringing

  function ring(text) {
    stopFlash();
    let on = false;
    flashTimer = setInterval(() => {
      on = !on;
      document.title = on ? `☎ ${text}` : baseTitle;
    }, 800);
    document.title = `☎ ${text}`;
    if ($("sonido") && $("sonido").checked) beep();
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      try { new Notification(text, { tag: "atiende-llamada" }); } catch (_) { /* not allowed */ }
    }
  }

  function stopFlash() {
    if (flashTimer) clearInterval(flashTimer);
    flashTimer = null;
    document.title = baseTitle;
  }

  function beep() {
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.1;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (_) { /* no audio */ }
  }

  // ------------------------------------------------------------- timers

  function pad(n) { return String(n).padStart(2, "0"); }

  function tick() {
    const now = Date.now() / 1000;
    // Each timer says how long it had run when the server drew it; it counts
    // on from when this page received it (no clock is compared with another).
    for (const el of document.querySelectorAll(".timer[data-elapsed]")) {
      if (!el.dataset.base) el.dataset.base = String(now - Number(el.dataset.elapsed));
      const since = Number(el.dataset.base);
      el.textContent = clock(Math.max(0, Math.round(now - since)));
    }
    // The after-call pause's countdown: what was left when the server drew
    // it, counted down from this page's receipt (the PC's clock may be off).
    for (const el of document.querySelectorAll(".countdown[data-remaining]")) {
      if (!el.dataset.ends) el.dataset.ends = String(now + Number(el.dataset.remaining));
      el.textContent = clock(Math.max(0, Math.round(Number(el.dataset.ends) - now)));
    }
  }

  function clock(total) {
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
  }

  // ---------------------------------------------------------- keyboard

  function onKey(event) {
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "s") {
      const form = visibleForm();
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (!event.altKey) return;
    if (key === "c") {
      const form = visibleForm();
      const field = form && form.querySelector("select, input, textarea");
      if (field) { event.preventDefault(); field.focus(); }
    } else if (key === "p") {
      event.preventDefault();
      const state = document.querySelector("#estado .state strong");
      const paused = state && /pausa/i.test(state.textContent);
      const button = paused ? $("disponible") : $("pausar");
      if (button) button.click();
    } else if (key === "b") {
      event.preventDefault();
      const box = $("buscar-persona");
      if (box) box.focus();
    } else if (key === "l") {
      event.preventDefault();
      const card = $("llamada");
      if (card) card.focus();
    }
  }

  // ----------------------------------------------------------- clicks

  function onClick(event) {
    const tab = event.target.closest("#cierres [data-tab]");
    if (tab) {
      showForm(tab.dataset.tab);
      return;
    }
    const link = event.target.closest("[data-vincular]");
    if (link) {
      const form = visibleForm();
      if (!form) return;
      form.querySelector("input[name=person_id]").value = link.dataset.vincular;
      form.querySelector("input[name=person_name]").value = link.dataset.nombre;
      form.querySelector(".linked-person").textContent = link.dataset.nombre;
      offerContacts(form, link.dataset.contactos || "");
      return;
    }
    if (event.target.id === "avisos" && "Notification" in window) {
      Notification.requestPermission().then((answer) => {
        event.target.textContent = answer === "granted" ? "Avisos en el escritorio permitidos" : "Avisos no permitidos";
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("keydown", onKey);
    const forms = document.getElementById("cierre-formularios");
    for (const form of forms.querySelectorAll("form.wrapup")) restoreDraft(form);
    forms.addEventListener("input", (event) => {
      const form = event.target.closest("form.wrapup");
      if (form) saveDraft(form);
    });
    forms.addEventListener("change", (event) => {
      const form = event.target.closest("form.wrapup");
      if (form) saveDraft(form);
    });
    document.addEventListener("click", onClick);
    window.addEventListener("focus", stopFlash);
    document.body.addEventListener("htmx:afterSwap", () => {
      for (const saved of document.querySelectorAll("#cierre-formularios > .saved:not([data-leaving])")) {
        saved.dataset.leaving = "1";
        dropDraft(saved.dataset.saved);
        setTimeout(() => { saved.remove(); markTabs(); }, 6000);
      }
      if (!visibleForm()) {
        const tabs = document.querySelectorAll("#cierres [data-tab]");
        if (tabs.length) showForm(tabs[tabs.length - 1].dataset.tab);
      }
    });
    setInterval(tick, 1000);
    markTabs();
    if (!visibleForm()) {
      const first = document.querySelector("#cierre-formularios > .wrapup");
      if (first) showForm(first.dataset.call);
    }
    connect();
  });
})();
