"use strict";
// The knowledge panel (agente/_conocimiento.html) of the phone workspace and
// the walk-in desk. It floats over the page: opened (its button or Alt+T) it
// covers part of the right column; closed, it takes no room, so the call, the
// person and the wrap-up keep their places at 1366x768. Escape closes it and
// gives the focus back to its button. "Usar ... en el cierre" makes a trámite
// found the topic of the wrap-up form on screen.
(() => {
  const $ = (id) => document.getElementById(id);

  function openKnowledge(open) {
    const panel = $("conocimiento");
    const toggle = $("abrir-tramites");
    if (!panel || !toggle) return;
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) $("buscar-tramite").focus();
    else toggle.focus();
  }

  function onClick(event) {
    if (event.target.closest("#abrir-tramites")) {
      openKnowledge($("conocimiento").hidden);
      return;
    }
    if (event.target.closest("[data-cerrar-tramites]")) {
      openKnowledge(false);
      return;
    }
    const topic = event.target.closest("[data-tema]");
    if (!topic) return;
    const form = document.querySelector("#cierre-formularios > form.wrapup:not([hidden])");
    const select = form && form.querySelector("select[name=topic_id]");
    if (!select) return;
    select.value = topic.dataset.tema;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    topic.textContent = `«${topic.dataset.temaNombre}» elegido en el cierre`;
  }

  function onKey(event) {
    if (event.altKey && event.key.toLowerCase() === "t") {
      event.preventDefault();
      openKnowledge(true);
    } else if (event.key === "Escape" && event.target.closest && event.target.closest("#conocimiento")) {
      event.preventDefault();
      openKnowledge(false);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("conocimiento")) return;
    document.addEventListener("click", onClick);
    document.addEventListener("keydown", onKey);
  });
})();
