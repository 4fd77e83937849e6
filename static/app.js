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
  // A close button goes through the same "cancel" event as Escape, so that a dialog that must
  // not close yet (a token not copied) has one place to say so.
  for (const closer of document.querySelectorAll("[data-close-dialog]")) {
    const dialog = closer.closest("dialog");
    if (!dialog) continue;
    closer.addEventListener("click", (event) => {
      event.preventDefault();
      if (dialog.dispatchEvent(new Event("cancel", { cancelable: true }))) dialog.close();
    });
  }

  // The account menu is a <details>: it works without JS; this closes it the way menus close,
  // on Escape and on a click elsewhere.
  for (const menu of document.querySelectorAll("details.account-menu")) {
    document.addEventListener("click", (event) => {
      if (!menu.contains(event.target)) menu.open = false;
    });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
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
    notes.hidden = false;
    const update = () => {
      for (const note of notes.querySelectorAll("[data-expiry]")) {
        note.hidden = note.dataset.expiry !== select.value;
      }
    };
    select.addEventListener("change", () => {
      update();
      // In the dialog on a phone, the note would open under the sticky footer.
      notes.querySelector("[data-expiry]:not([hidden])")?.scrollIntoView({ block: "nearest" });
    });
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

  createInDialog(document.getElementById("create-dialog"));

  // The token page: never let Back bring the value back from the page cache.
  const reveal = document.querySelector("[data-reveal]");
  if (reveal) {
    window.addEventListener("pagehide", () => {
      for (const field of reveal.querySelectorAll("textarea")) field.defaultValue = field.value = "";
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) location.reload();
    });
  }
});

// The create dialog, with JS: the form goes to POST /api/tokens, problems are marked inside
// the dialog with what was typed kept, and the new token is shown in the same dialog. Without
// JS (or when the API says something other than created or invalid) the form posts as a page.
// Ticking a project means "only these": the choice follows, so the two never disagree.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.name !== "project_ids" || !box.checked) return;
  box.form?.querySelector("#projects-only")?.click();
});

// A project's token policy would block the token being made: say so before it is created
// (the server blocks such a token there with 403 token_policy; it does not refuse to make it).
function policyWarning(form) {
  const warning = form.querySelector("#policy-warning");
  const expiry = form.querySelector("#token-expiry");
  if (!warning || !expiry) return;
  const lifetimes = Object.fromEntries(expiry.dataset.lifetimes.split(";").filter(Boolean).map((p) => p.split("=")));
  const lifetime = lifetimes[expiry.value] ? Number(lifetimes[expiry.value]) : Infinity;
  const only = form.querySelector("#projects-only")?.checked;
  const blocked = [];
  for (const box of form.querySelectorAll("input[name=project_ids]")) {
    if (only && !box.checked) continue;
    const maxDays = box.dataset.maxDays ? Number(box.dataset.maxDays) : Infinity;
    if (lifetime > maxDays * 86400) blocked.push(`${box.dataset.name} (tokens of at most ${maxDays} days)`);
    else if (box.hasAttribute("data-require-restricted") && !only) blocked.push(`${box.dataset.name} (only project-restricted tokens)`);
  }
  warning.textContent = blocked.length ? `This token would be blocked on ${blocked.join(", ")}.` : "";
  warning.hidden = !blocked.length;
}
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll(".token-form")) {
    form.addEventListener("change", () => policyWarning(form));
    policyWarning(form);
  }
});

function createInDialog(dialog) {
  const form = dialog?.querySelector(".token-form");
  const panel = dialog?.querySelector("[data-dialog-reveal]");
  if (!form || !panel || !window.fetch) return;
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const submit = form.querySelector("button[type=submit]");
  const secret = panel.querySelector("#new-token");
  const confirmClose = panel.querySelector("#close-confirm");
  let copied = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    submit.disabled = true;
    let res;
    try {
      res = await fetch("/api/tokens", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({
          name: data.get("name"), scopes: data.getAll("scopes"), expiry: data.get("expiry"),
          projects: data.get("projects") === "only" ? data.getAll("project_ids") : "all",
          allowedIps: (data.get("allowed_ips") || "").split(/[\s,]+/).filter(Boolean),
        }),
      });
    } catch {
      // Nothing is known to have been created: say so, and let the person try again.
      showErrors(form, { "": "The server could not be reached. Try again." });
      submit.disabled = false;
      return;
    }
    if (res.status === 201) {
      reveal(await res.json());
    } else if (res.status === 422) {
      const body = await res.json();
      showErrors(form, body.error.fields || { "": body.error.message });
      submit.disabled = false;
    } else {
      // A session that ended, a CSRF failure, a rate limit: the page flow explains those.
      form.submit();
    }
  });

  function reveal(created) {
    panel.querySelector(".token-name").textContent = created.name;
    const scopes = panel.querySelector(".reveal-scopes");
    scopes.replaceChildren(...created.scopes.flatMap((s) => {
      const chip = document.createElement("code");
      chip.className = "scope";
      chip.textContent = s;
      return [chip, " "];
    }));
    panel.querySelector(".reveal-projects").textContent = created.projects === "all"
      ? "All my projects"
      : [...form.querySelectorAll("input[name=project_ids]:checked")]
        .map((box) => box.labels[0].textContent.trim()).join(", ");
    panel.querySelector(".reveal-expires").textContent = created.expiresAt
      ? new Date(created.expiresAt).toLocaleString("en-US", {
        month: "short", day: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23", timeZone: "UTC" }) + " UTC"
      : "Never";
    secret.value = created.token;
    document.getElementById("create-title").textContent = "Token created";
    form.hidden = true;
    panel.hidden = false;
    panel.querySelector("[data-copy]").focus();
  }

  panel.querySelector("[data-copy]").addEventListener("click", () => {
    copied = true;
    confirmClose.hidden = true;
  });

  // Escape, ×, Done: before Copy was pressed, ask first.
  dialog.addEventListener("cancel", (event) => {
    if (panel.hidden || copied) return;
    event.preventDefault();
    confirmClose.hidden = false;
    confirmClose.querySelector("[data-keep-open]").focus();
  });
  confirmClose.querySelector("[data-keep-open]").addEventListener("click", () => {
    confirmClose.hidden = true;
    panel.querySelector("[data-copy]").focus();
  });
  confirmClose.querySelector("[data-close-anyway]").addEventListener("click", () => dialog.close());

  // However it closed, the plaintext leaves the page, and the list is loaded again with the
  // new row (replace: no history entry that could lead back to it).
  const forget = () => {
    secret.value = secret.defaultValue = "";
  };
  dialog.addEventListener("close", () => {
    if (panel.hidden) return;
    forget();
    panel.hidden = true;
    location.replace("/settings/tokens");
  });
  window.addEventListener("pagehide", forget);
}

// Marks each field's problem (or clears it), lists them all at the top, and moves focus to
// the first, as the server-rendered form does after a failed post.
function showErrors(form, fields) {
  const targets = [
    ["name", "token-name", form.querySelector("#token-name"), "name-hint"],
    ["scopes", "scope-publish", form.querySelector("fieldset.scope-picker"), "scopes-hint"],
    ["expiry", "token-expiry", form.querySelector("#token-expiry"), "expiry-notes"],
    ["projects", "projects-all", form.querySelector("fieldset.project-picker"), "projects-hint"],
    ["allowedIps", "token-allowed-ips", form.querySelector("#token-allowed-ips"), "allowed-ips-hint"],
  ];
  const summary = form.querySelector("#form-errors");
  const list = summary.querySelector("ul");
  list.replaceChildren();
  const add = (id, message) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    if (id) link.href = "#" + id;
    link.textContent = message;
    item.append(id ? link : message);
    list.append(item);
  };
  let first = null;
  for (const [key, id, field, hint] of targets) {
    const message = fields[key];
    const error = form.querySelector(`#${key}-error`);
    error.textContent = message || "";
    error.hidden = !message;
    field.setAttribute("aria-describedby", message ? `${hint} ${key}-error` : hint);
    if (field.tagName === "FIELDSET") field.classList.toggle("invalid", !!message);
    else if (message) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
    if (message) {
      add(id, message);
      first ??= form.querySelector("#" + id);
    }
  }
  for (const [key, message] of Object.entries(fields)) {
    if (!targets.some(([k]) => k === key)) add(null, message);
  }
  summary.hidden = false;
  (first || summary).focus();
  if (!first) summary.scrollIntoView({ block: "nearest" });
}

// Passkeys (SPEC §3.1): the server's options come as JSON with binary values in base64url;
// navigator.credentials wants ArrayBuffers, and its answer goes back as JSON in the form's
// hidden `passkey` field. Without JavaScript (or passkey support) the forms stay hidden and
// the page says so.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  const toBytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  const toText = (buffer) => {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const credentials = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));
  const answer = (credential) => {
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) response.attestationObject = toText(r.attestationObject);
    if (r.authenticatorData) response.authenticatorData = toText(r.authenticatorData);
    if (r.signature) response.signature = toText(r.signature);
    if (r.userHandle) response.userHandle = toText(r.userHandle);
    return JSON.stringify({ id: credential.id, rawId: toText(credential.rawId), type: credential.type, response });
  };
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const failed = (form, error) => {
    let note = form.querySelector(".passkey-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error passkey-note";
      note.setAttribute("role", "alert");
      form.append(note);
    }
    note.textContent = error && error.name === "NotAllowedError"
      ? "The passkey was not used: it was cancelled or timed out."
      : "The passkey could not be used here. Try again, or use another way.";
  };
  for (const note of document.querySelectorAll("[data-passkey-fallback]")) note.hidden = true;

  // Adding a passkey on /settings/security: the options from the JSON API.
  for (const form of document.querySelectorAll("form[data-passkey-create]")) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      if (form.elements.passkey.value) return;
      event.preventDefault();
      if (!form.reportValidity()) return;
      try {
        const res = await fetch("/api/account/passkey-options", {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf },
        });
        if (!res.ok) throw new Error(res.statusText);
        const options = await res.json();
        options.challenge = toBytes(options.challenge);
        options.user.id = toBytes(options.user.id);
        options.excludeCredentials = credentials(options.excludeCredentials);
        const credential = await navigator.credentials.create({ publicKey: options });
        form.elements.passkey.value = answer(credential);
        form.submit();
      } catch (error) {
        failed(form, error);
      }
    });
  }

  // Re-authentication: the password, and a passkey in place of the code. The options come from
  // the JSON API (the session is signed in).
  for (const button of document.querySelectorAll("[data-passkey-reauth]")) {
    const form = button.closest("form");
    button.hidden = false;
    button.addEventListener("click", async () => {
      if (!form.elements.reauth_password.reportValidity()) return;
      try {
        const res = await fetch("/api/session/passkey-options", {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf },
        });
        if (!res.ok) throw new Error(res.statusText);
        const options = await res.json();
        options.challenge = toBytes(options.challenge);
        options.allowCredentials = credentials(options.allowCredentials);
        const credential = await navigator.credentials.get({ publicKey: options });
        form.elements.reauth_passkey.value = answer(credential);
        form.submit();
      } catch (error) {
        failed(form, error);
      }
    });
  }

  // Signing in with a passkey (/login), or giving it as the second factor (/login/verify).
  for (const form of document.querySelectorAll("form[data-passkey-get]")) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      if (form.elements.passkey.value) return;
      event.preventDefault();
      try {
        const res = await fetch("/login/passkey/options", {
          method: "POST",
          credentials: "same-origin",
          body: new URLSearchParams({ csrf_token: form.elements.csrf_token.value }),
        });
        if (!res.ok) throw new Error(res.statusText);
        const options = await res.json();
        options.challenge = toBytes(options.challenge);
        options.allowCredentials = credentials(options.allowCredentials);
        const credential = await navigator.credentials.get({ publicKey: options });
        form.elements.passkey.value = answer(credential);
        form.submit();
      } catch (error) {
        failed(form, error);
      }
    });
  }
});
