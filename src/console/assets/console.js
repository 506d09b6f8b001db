// iamlite console: the few things a server-rendered page cannot do alone. Everything works
// without it except showing and copying the new secret (the .csv download still works).
"use strict";

function announce(text) {
  const region = document.querySelector("main .message");
  if (region) {
    region.className = "message status";
    region.setAttribute("role", "status");
    region.textContent = text;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // A dialog the server rendered open becomes modal: focus stays inside and Escape cancels.
  for (const dialog of document.querySelectorAll("dialog[open][data-cancel]")) {
    dialog.close();
    dialog.showModal();
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      location.assign(dialog.dataset.cancel);
    });
  }

  // "No expiration" clears and disables the date.
  const never = document.getElementById("no-expiration");
  const date = document.getElementById("expiration");
  if (never && date) {
    const sync = () => { date.disabled = never.checked; };
    never.addEventListener("change", sync);
    sync();
  }

  const show = document.getElementById("show-secret");
  const secret = document.getElementById("secret-value");
  const mask = document.getElementById("secret-mask");
  if (show && secret && mask) {
    show.addEventListener("click", () => {
      const visible = show.getAttribute("aria-expanded") !== "true";
      show.setAttribute("aria-expanded", String(visible));
      show.textContent = visible ? "Hide secret access key" : "Show secret access key";
      secret.hidden = !visible;
      mask.hidden = visible;
    });
  }

  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        announce(button.dataset.done);
      } catch (_) {
        announce("Copying is not allowed here: show the secret and copy it by hand, or download the .csv file.");
      }
    });
  }
});
