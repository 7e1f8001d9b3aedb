// conveyor web UI: small progressive enhancements. Every page works without this script;
// it only adds conveniences (the compare button's state, confirmations before changes).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The runs table: "Compare" is useful from two ticked runs on.
  const form = document.querySelector("form[data-compare]");
  if (form) {
    const button = form.querySelector("button[type=submit]");
    const count = form.querySelector("[data-count]");
    const boxes = () => Array.from(form.querySelectorAll("input[name=run]"));
    const update = () => {
      const ticked = boxes().filter((b) => b.checked).length;
      button.disabled = ticked < 2;
      if (count) count.textContent = ticked ? `${ticked} selected` : "";
    };
    const all = form.querySelector("input[data-all]");
    if (all) {
      all.addEventListener("change", () => {
        boxes().forEach((b) => { b.checked = all.checked; });
        update();
      });
    }
    form.addEventListener("change", update);
    update();
  }

  // Forms that change something ask first, with the sentence in data-confirm.
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (event) => {
      if (!window.confirm(f.dataset.confirm)) event.preventDefault();
    });
  });
});
