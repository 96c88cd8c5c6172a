/* API keys: list, create (every option; the key shown once, with a copy button), disable, revoke. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, field, credits, dateTime, table, toast, modal, confirmDialog, badge, copy, uid } = window.GW.dom;
  const api = window.GW.api;

  function status(key) {
    if (key.disabled) return badge(t("keys.disabledState"), "muted");
    if (key.expires_at && new Date(key.expires_at) <= new Date()) return badge(t("keys.expired"), "warn");
    return badge(t("keys.active"), "ok");
  }

  function limitText(key) {
    if (key.limit === null) return t("common.none");
    return h("div", { class: "stack" },
      t("keys.remaining", { remaining: credits(key.limit_remaining), limit: credits(key.limit) }),
      h("span", { class: "sub" }, t(`keys.reset.${key.limit_reset || "none"}`)));
  }

  function allowText(list) {
    return list ? t("keys.restricted", { count: list.length }) : t("keys.unrestricted");
  }

  function checkboxes(legend, name, values, hint) {
    const hintId = uid("hint");
    return h(
      "fieldset",
      { class: "choices", "aria-describedby": hintId },
      h("legend", null, legend),
      h("p", { class: "hint", id: hintId }, hint),
      h("div", { class: "choice-list" }, values.map((value) =>
        h("label", { class: "choice" }, h("input", { type: "checkbox", name, value }), value)
      ))
    );
  }

  function option(value, label, selected) {
    return h("option", { value, selected }, label);
  }

  function keyForm(catalog, close) {
    const name = h("input", { name: "name", required: true, maxlength: 100, autocomplete: "off" });
    const kind = h("select", { name: "kind" }, option("inference", t("keys.kind.inference")), option("management", t("keys.kind.management")));
    const limit = h("input", { name: "limit", type: "number", min: 0, step: "0.000001", inputmode: "decimal" });
    const reset = h(
      "select",
      { name: "limit_reset" },
      ["", "daily", "weekly", "monthly"].map((value) => option(value, t(`keys.reset.${value || "none"}`)))
    );
    const rate = h("input", { name: "rate_limit", type: "number", min: 1, max: 1000000, step: 1, inputmode: "numeric" });
    const expires = h("input", { name: "expires_at", type: "datetime-local" });
    const error = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, t("keys.create"));
    const form = h(
      "form",
      { class: "form", novalidate: false },
      field(t("keys.name"), name),
      field(t("keys.kind"), kind),
      h("div", { class: "row" }, field(t("keys.limit"), limit, t("keys.limitHint")), field(t("keys.reset"), reset, t("keys.resetHint"))),
      field(t("keys.rate"), rate),
      h("details", { class: "allow" }, h("summary", null, `${t("keys.models")} / ${t("keys.providers")}`),
        checkboxes(t("keys.models"), "allowed_models", catalog.models, t("keys.allowHint")),
        checkboxes(t("keys.providers"), "allowed_providers", catalog.providers, t("keys.allowHint"))),
      field(t("keys.expires"), expires, t("keys.expiresHint")),
      error,
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(null) }, t("common.cancel")), submit)
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { name: name.value.trim(), kind: kind.value };
      if (limit.value !== "") body.limit = limit.value;
      if (reset.value) body.limit_reset = reset.value;
      if (rate.value !== "") body.rate_limit = Number(rate.value);
      const ticked = (group) => [...form.querySelectorAll(`input[name=${group}]:checked`)].map((box) => box.value);
      if (ticked("allowed_models").length) body.allowed_models = ticked("allowed_models");
      if (ticked("allowed_providers").length) body.allowed_providers = ticked("allowed_providers");
      if (expires.value) body.expires_at = new Date(expires.value).toISOString();
      submit.disabled = true;
      error.textContent = "";
      try {
        close(await api.post("keys", body));
      } catch (failure) {
        error.textContent = window.GW.app.message(failure);
        submit.disabled = false;
      }
    });
    return form;
  }

  function showCreated(created) {
    return modal(t("keys.createdTitle"), (close) => {
      const secret = h("input", { id: "new-key", class: "secret", readonly: true, value: created.key, "aria-label": t("keys.key"), spellcheck: "false" });
      const button = h("button", { type: "button", class: "primary", id: "copy-new-key" }, t("common.copy"));
      button.addEventListener("click", () => copy(created.key, button, secret));
      return h(
        "div",
        null,
        h("p", null, t("keys.createdText")),
        h("div", { class: "copy-row" }, secret, button),
        h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close() }, t("common.close")))
      );
    });
  }

  async function toggle(key) {
    await api.patch(`keys/${key.hash}`, { disabled: !key.disabled });
    toast(t("keys.changed"));
    window.GW.app.refresh();
  }

  async function revoke(key) {
    const sure = await confirmDialog(t("keys.revokeTitle", { name: key.name }), t("keys.revokeText"), t("keys.revoke"), true);
    if (!sure) return;
    await api.del(`keys/${key.hash}`);
    toast(t("keys.revoked"));
    window.GW.app.refresh();
  }

  async function render(main) {
    const [list, catalog] = await Promise.all([api.get("keys"), window.GW.app.catalog()]);
    const create = h("button", { type: "button", class: "primary", id: "create-key" }, t("keys.create"));
    create.addEventListener("click", async () => {
      const created = await modal(t("keys.create"), (close) => keyForm(catalog, close));
      if (created) {
        await showCreated(created);
        window.GW.app.refresh();
      }
    });
    const act = (label, handler, kind) =>
      h("button", { type: "button", class: ["small", kind], onclick: () => handler().catch(window.GW.app.fail) }, label);
    const columns = [
      {
        label: t("keys.name"),
        cell: (k) => h("div", { class: "stack" }, h("strong", null, k.name),
          h("span", { class: "sub" }, h("code", null, k.key_prefix), ` · ${t(`keys.kind.${k.kind}`).split(/[ （(]/)[0]}`)),
      },
      { label: t("keys.status"), cell: status },
      { label: t("keys.col.limit"), cell: limitText },
      { label: t("keys.col.rate"), cell: (k) => (k.rate_limit ? t("keys.perMinute", { rate: k.rate_limit }) : t("common.none")) },
      {
        label: t("keys.col.allowed"),
        cell: (k) => h("div", { class: "stack" },
          h("span", null, `${t("keys.col.models")}: ${allowText(k.allowed_models)}`),
          h("span", null, `${t("keys.col.providers")}: ${allowText(k.allowed_providers)}`)),
      },
      { label: t("keys.col.expires"), cell: (k) => (k.expires_at ? dateTime(k.expires_at) : t("common.never")) },
      {
        label: t("keys.used"),
        cell: (k) => h("div", { class: "stack" }, credits(k.usage.total_credits), h("span", { class: "sub" }, t("keys.requests", { count: k.usage.total_requests }))),
        numeric: true,
      },
      {
        label: t("keys.actions"),
        cell: (k) => h("div", { class: "row-actions" },
          act(k.disabled ? t("keys.enable") : t("keys.disable"), () => toggle(k), "secondary"),
          act(t("keys.revoke"), () => revoke(k), "danger")),
      },
    ];
    add(main, 
      window.GW.app.header(t("keys.title"), create),
      table(t("keys.title"), columns, list.data, { rowHeader: true, hideCaption: true })
    );
  }

  window.GW.pages.keys = { nav: "nav.keys", render };
})();
