"use strict";
// The catalog import form posts the file's text: a chosen file is read into
// the textarea (forms here are url-encoded; the server parses CSV or JSON).
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.fills || !input.files.length) return;
  const target = document.getElementById(input.dataset.fills);
  const reader = new FileReader();
  reader.addEventListener("load", () => { target.value = String(reader.result); });
  reader.readAsText(input.files[0], "utf-8");
});
