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
      revokeDialog.showModal();
    });
  }

  // The expiry select warns about tokens that never expire.
  for (const select of document.querySelectorAll("select[name=expiry]")) {
    const warning = select.form?.querySelector(".never-warning");
    const update = () => { if (warning) warning.hidden = select.value !== "never"; };
    select.addEventListener("change", update);
    update();
  }

  // Copy puts the token on the clipboard, or selects it so Ctrl+C works.
  for (const button of document.querySelectorAll("[data-copy]")) {
    const field = document.querySelector(button.dataset.copy);
    const status = document.querySelector(".copy-status");
    button.addEventListener("click", async () => {
      field.focus();
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard.";
      } catch {
        if (status) status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    });
  }
});
