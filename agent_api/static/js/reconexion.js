// What the panel's live sockets share (agente.js, alertas.js): a refused or
// dropped socket is retried a few times with growing waits, then left to the
// person (a "Reconectar" button): never a loop. Load it before them.
"use strict";

window.atiendeReconexion = Object.freeze({
  MAX_RETRIES: 5,

  // The wait before retry number `retries` (1, 2, ...): doubling, at most 30 s.
  delay(retries) { return Math.min(30000, 1000 * 2 ** retries); },

  // Shows `text` in `box`; with `retry`, a "Reconectar" button that calls it.
  status(box, text, retry) {
    box.textContent = text;
    if (retry) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = "Reconectar";
      button.addEventListener("click", retry);
      box.append(" ", button);
    }
  },
});
