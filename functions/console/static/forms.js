/* The operators' forms: each control names the field of the API it fills (data-param), a 400 is shown
   next to the control its `param` names (pricing.input, providers.0.model, ...) and announced, and each
   form keeps one Idempotency-Key until its change is done, so a repeated or retried submit is done once. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, uid } = window.GW.dom;
  const app = () => window.GW.app;

  function newKey() {
    return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  /** A control bound to an API field. */
  function control(tag, param, attrs, ...children) {
    return h(tag, { ...(attrs || {}), name: param, "data-param": param }, ...children);
  }

  function clearErrors(form) {
    for (const note of form.querySelectorAll(".field-error")) note.remove();
    for (const node of form.querySelectorAll("[aria-invalid]")) {
      node.removeAttribute("aria-invalid");
      const described = (node.dataset.describedBy || "").trim();
      if (described) node.setAttribute("aria-describedby", described);
      else node.removeAttribute("aria-describedby");
    }
  }

  /** The control (or group of controls) a `param` names: the longest path of it that one declares. */
  function controlFor(form, param) {
    let path = String(param || "");
    while (path) {
      const found = form.querySelector(`[data-param="${CSS.escape(path)}"]`);
      if (found) return found;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    return null;
  }

  /** An API error in the form: beside the control it names (then focused), and in the form's alert. */
  function showError(form, alertNode, error) {
    clearErrors(form);
    const target = error && error.status === 400 ? controlFor(form, error.param) : null;
    if (!target) {
      alertNode.textContent = app().message(error);
      return;
    }
    const note = h("p", { class: "field-error", id: uid("error") }, t("form.fieldError", { message: error.message }));  // the server's words, led in the page's language
    const container = target.tagName === "FIELDSET" ? target : target.closest(".field") || target.parentNode;
    container.append(note);
    target.dataset.describedBy = target.getAttribute("aria-describedby") || "";
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", `${target.dataset.describedBy} ${note.id}`.trim());
    alertNode.textContent = t("form.checkField", { field: error.param });
    container.scrollIntoView({ block: "center" });
    const focusable = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea");
    if (focusable) focusable.focus({ preventScroll: true });
  }

  /** Submit `form` with `send(idempotencyKey)`; errors shown in it, the key renewed once it is done. */
  function onSubmit(form, submit, alertNode, send) {
    let key = newKey();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      alertNode.textContent = "";
      submit.disabled = true;
      try {
        await send(key);
        key = newKey();
      } catch (failure) {
        if (failure instanceof window.GW.api.ApiError && failure.status === 401) app().fail(failure);
        else showError(form, alertNode, failure);
      } finally {
        submit.disabled = false;
      }
    });
  }

  /** The value of a text or number control, or null when it is empty (a merge patch removes the field). */
  function value(node) {
    const text = node.value.trim();
    return text === "" ? null : text;
  }

  /** A whole number from text, or null when empty; anything else is sent as typed (the API says why). */
  function whole(text) {
    const trimmed = String(text ?? "").trim();
    if (trimmed === "") return null;
    return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
  }

  /** A whole number from a control (see `whole`). */
  function integer(node) {
    return whole(node.value);
  }

  function checkbox(param, checked, label, boxValue) {
    const box = control("input", param, { type: "checkbox", checked: Boolean(checked), value: boxValue ?? "on" });
    return h("label", { class: "choice" }, box, label);
  }

  /** The catalog version a save left in the address (`?saved=`), when it is one: a link's own words never are. */
  function savedVersion(params) {
    return /^\d{1,12}$/.test(params.saved || "") ? params.saved : null;
  }

  // A merge patch of what differs from `before` (objects member by member): another operator's change
  // to a field this form did not touch since it was loaded stays
  function changedOnly(before, after) {
    const plain = (value) => value && typeof value === "object" && !Array.isArray(value);
    const patch = {};
    for (const [name, value] of Object.entries(after)) {
      if (plain(value) && plain(before[name])) {
        const inner = changedOnly(before[name], value);
        if (Object.keys(inner).length) patch[name] = inner;
      } else if (JSON.stringify(value) !== JSON.stringify(before[name])) {
        patch[name] = value;
      }
    }
    return patch;
  }

  window.GW.forms = { newKey, control, clearErrors, showError, onSubmit, value, whole, integer, checkbox, savedVersion, changedOnly };
})();
