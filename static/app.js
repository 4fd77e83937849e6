// Progressive enhancement for the dashboard: every feature here also works without JS.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Create token opens a native dialog instead of navigating to the form page.
  for (const opener of document.querySelectorAll("[data-open-dialog]")) {
    const dialog = document.getElementById(opener.dataset.openDialog);
    if (!dialog || typeof dialog.showModal !== "function") continue;
    opener.addEventListener("click", (event) => {
      event.preventDefault();
      dialog.showModal();
      dialog.querySelector("input:not([type=hidden])")?.focus();
    });
  }
  for (const closer of document.querySelectorAll("[data-close-dialog]")) {
    const dialog = closer.closest("dialog");
    if (!dialog) continue;
    closer.addEventListener("click", (event) => {
      event.preventDefault();
      dialog.close();
    });
  }

  // Revoke asks for confirmation in a dialog; without JS the link leads to a confirmation page.
  const revokeDialog = document.getElementById("revoke-dialog");
  for (const link of document.querySelectorAll("[data-revoke-action]")) {
    if (!revokeDialog || typeof revokeDialog.showModal !== "function") break;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      revokeDialog.querySelector(".revoke-form").action = link.dataset.revokeAction;
      revokeDialog.querySelector(".revoke-name").textContent = link.dataset.revokeName;
      revokeDialog.querySelector(".revoke-prefix").textContent = link.dataset.revokePrefix;
      revokeDialog.showModal();
    });
  }

  // The note under the expiry select follows the choice: the date, or the warning for Never.
  for (const select of document.querySelectorAll("select[data-notes]")) {
    const notes = document.getElementById(select.dataset.notes);
    const update = () => {
      for (const note of notes.querySelectorAll("[data-expiry]")) {
        note.hidden = note.dataset.expiry !== select.value;
      }
    };
    select.addEventListener("change", update);
    update();
  }

  // After a failed submit, start where the first problem is.
  document.querySelector("[aria-invalid=true], fieldset.invalid input")?.focus();

  // Copy puts the token on the clipboard, or selects it so Ctrl+C works.
  for (const button of document.querySelectorAll("[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(field.getAttribute("aria-describedby"));
    button.hidden = false;
    status.textContent = "";
    button.addEventListener("click", async () => {
      field.focus();
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
        status.textContent = "Copied to the clipboard.";
      } catch {
        status.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
      }
    });
  }

  // The token page came from a POST: make Reload fetch the list instead of posting the form
  // again (which would make a second token), and never let Back bring the value back.
  const reveal = document.querySelector("[data-reveal]");
  if (reveal) {
    history.replaceState(null, "", "/settings/tokens");
    window.addEventListener("pagehide", () => {
      for (const field of reveal.querySelectorAll("input")) field.defaultValue = field.value = "";
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) location.reload();
    });
  }
});
