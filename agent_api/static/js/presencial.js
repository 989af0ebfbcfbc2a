// Reception and desk pages: what only a browser does. The person picked in the
// phone workspace's card ("Elegir a esta persona") goes into the form on screen
// (the turn at reception, the attention's record at the desk); a given turn's
// number can be printed. The server renders everything shown.
"use strict";

(() => {
  function visibleForm() {
    return document.querySelector("#turno-form, #cierre-formularios > form.wrapup:not([hidden])");
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-vincular]");
    if (link) {
      const form = visibleForm();
      if (!form) return;
      form.querySelector("input[name=person_id]").value = link.dataset.vincular;
      form.querySelector("input[name=person_name]").value = link.dataset.nombre;
      form.querySelector(".linked-person").textContent = link.dataset.nombre;
      link.textContent = "Persona elegida";
      return;
    }
    if (event.target.closest("[data-imprimir]")) window.print();
  });
})();
