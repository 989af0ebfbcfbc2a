// The waiting-room display: asks the server for the board every few seconds
// and puts the server-rendered board in place when it changed; a new number
// called plays a short chime (WebAudio, no file). Browsers only play sound
// after a gesture: "Activar sonido" once, or a kiosk browser that allows it.
"use strict";

(() => {
  const EVERY_MS = 3000;
  let audio = null;

  function chime() {
    if (!audio || audio.state !== "running") return;
    const start = audio.currentTime;
    [880, 660].forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.4, start + i * 0.35 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.35 + 0.33);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + i * 0.35);
      osc.stop(start + i * 0.35 + 0.35);
    });
  }

  function calling(root) {
    return new Set(Array.from(root.querySelectorAll(".llamando .numero")).map((n) => n.textContent));
  }

  async function refresh() {
    const box = document.getElementById("tablero");
    const url = document.body.dataset.tablero;
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
      const current = box.firstElementChild;
      if (!next || (current && current.dataset.version === next.dataset.version)) return;
      const before = calling(box);
      const added = Array.from(calling(next)).some((label) => !before.has(label));
      box.replaceChildren(next);
      document.body.dataset.actualizado = String(Date.now());
      if (added) chime();
    } catch (_) {
      // The network came and went: the next round tries again.
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("sonido");
    button.addEventListener("click", () => {
      audio = audio || new AudioContext();
      audio.resume().then(() => {
        button.textContent = "Sonido activado";
        chime();
      });
    });
    setInterval(refresh, EVERY_MS);
  });
})();
