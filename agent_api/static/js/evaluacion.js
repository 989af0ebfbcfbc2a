// The evaluation tablet at a desk: shows the attention just finished there
// (the server decides which) and, once answered, thanks and resets. It never
// keeps an earlier person's answer: the form is replaced whenever the server
// offers another turn, and cleared after sending.
"use strict";

(() => {
  const EVERY_MS = 3000;
  const THANKS_MS = 6000;

  function busy(box) {
    const form = box.querySelector("form");
    if (!form) return false;
    return form.querySelector("input[name=score]:checked") !== null || form.querySelector("textarea").value !== "";
  }

  async function refresh() {
    const url = document.body.dataset.estado;
    const box = document.getElementById("evaluacion");
    const current = box.firstElementChild;
    if (current && current.dataset.hecho) return;
    try {
      // HX-Request: the fragment, not the redirect a browser navigation to
      // this URL gets (agent_api/web/fragments.py).
      const answer = await fetch(url, {
        cache: "no-store",
        credentials: "omit",
        headers: { "HX-Request": "true" },
      });
      if (!answer.ok) return;
      const template = document.createElement("template");
      template.innerHTML = (await answer.text()).trim();
      const next = template.content.firstElementChild;
      if (!next) return;
      if (current && current.dataset.turno === next.dataset.turno && busy(box)) return;
      if (current && current.dataset.turno === next.dataset.turno) return;
      box.replaceChildren(next);
      if (window.htmx) window.htmx.process(box);
    } catch (_) {
      // Tried again next round.
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.body.dataset.estado) return;
    setInterval(refresh, EVERY_MS);
    document.body.addEventListener("htmx:afterSwap", () => {
      const box = document.getElementById("evaluacion");
      const current = box.firstElementChild;
      if (current && current.dataset.hecho) {
        setTimeout(() => { current.removeAttribute("data-hecho"); current.dataset.turno = "x"; refresh(); }, THANKS_MS);
      }
    });
  });
})();
