/* Operators: upstream channels by provider, with their health over the last hour (read from the
   ledger: every request's attempts name their channel), and one channel's form: base URL, the key
   (write-only: sent once, stored in Secrets Manager, never shown), models, priority, weight, caps. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, clear, field, number, dateTime, table, badge, toast, alertBox } = window.GW.dom;
  const forms = window.GW.forms;
  const api = window.GW.api;
  const app = () => window.GW.app;
  const HEALTH = { ok: "ok", failing: "warn", cooling: "bad" };

  function link(id) {
    return `#/admin/channels/${encodeURIComponent(id)}`;
  }

  function healthCell(health) {
    if (!health) return badge(t("channels.health.idle"), "muted");
    const last = health.last_failure;
    return h("div", { class: "stack" },
      h("span", null, badge(t(`channels.health.${health.state}`), HEALTH[health.state])),
      h("span", { class: "sub" }, t("channels.attempts", { attempts: number(health.attempts, 0), failures: number(health.failures, 0) })),
      last ? h("span", { class: "sub" }, t("channels.lastFailure", { status: last.http_status ?? "—", code: last.error_code || "—", at: dateTime(last.at) })) : null);
  }

  async function setEnabled(channel, enabled) {
    const answer = await api.patch(`admin/channels/${encodeURIComponent(channel.id)}`, { enabled }, { "Idempotency-Key": forms.newKey() });
    toast(t("channels.saved", { id: channel.id, version: answer.version }));
    app().refresh();
  }

  function routing(c) {
    const models = c.models && c.models.length ? t("channels.someModels", { count: c.models.length }) : t("channels.allModels");
    const caps = c.rpm || c.tpm ? t("channels.capsShort", { rpm: c.rpm ? number(c.rpm, 0) : "—", tpm: c.tpm ? number(c.tpm, 0) : "—" }) : null;
    return h("div", { class: "stack" },
      h("span", null, t("channels.routingShort", { priority: c.priority ?? 0, weight: c.builtIn ? "—" : c.weight ?? 1 })),
      h("span", { class: "sub" }, models), caps ? h("span", { class: "sub" }, caps) : null);
  }

  function status(c) {
    if (c.builtIn) return h("div", { class: "stack" }, badge(t("channels.builtIn"), "muted"), h("span", { class: "sub" }, t("channels.keyEnvironment")));
    return h("div", { class: "stack" },
      h("span", null, c.enabled ? badge(t("channels.enabled"), "ok") : badge(t("channels.disabled"), "muted")),
      h("span", { class: "sub" }, c.has_secret ? t("channels.keySet") : t("channels.keyNone")));
  }

  function columns(health) {
    return [
      {
        label: t("channels.channel"),
        cell: (c) => h("div", { class: "stack" },
          c.builtIn ? h("strong", null, c.id) : h("a", { href: link(c.id), class: "mono" }, c.id),
          h("span", { class: "sub mono url" }, c.builtIn ? (c.base_url ? t("channels.builtInUrl", { url: c.base_url }) : t("channels.environmentUrl")) : c.base_url || t("channels.providersUrl")),
          c.note ? h("span", { class: "sub wrap" }, c.note) : null),
      },
      { label: t("channels.routing"), cell: routing },
      { label: t("channels.status"), cell: status },
      { label: t("channels.health"), cell: (c) => healthCell(health[c.id]) },
      {
        label: t("keys.actions"),
        cell: (c) => (c.builtIn ? "—" : h("div", { class: "row-actions" },
          h("a", { href: link(c.id), class: "button secondary small" }, t("channels.edit")),
          h("button", { type: "button", class: "small secondary", dataset: { focusKey: `channel:${c.id}` }, onclick: () => setEnabled(c, !c.enabled).catch(app().fail) }, c.enabled ? t("channels.disable") : t("channels.enable")))),
      },
    ];
  }

  async function list(main, params) {
    const [listing, health] = await Promise.all([api.get("admin/channels"), api.get("admin/channels/health").catch((error) => ({ error }))]);
    const byChannel = health.channels || {};
    const sections = listing.providers.map((provider) => {
      const own = listing.data.filter((c) => c.provider === provider.name).sort((a, b) => b.priority - a.priority);
      const builtIn = { id: provider.name, builtIn: true, base_url: provider.default_base_url, priority: 0, models: [] };
      return h("section", { class: "provider", "aria-labelledby": `provider-${provider.name}` },
        h("h2", { id: `provider-${provider.name}` }, provider.name, h("span", { class: "sub" }, ` · ${provider.kind} · ${t("channels.servesModels", { count: provider.models.length })}`)),
        table(t("channels.of", { provider: provider.name }), columns(byChannel), [...own, builtIn].sort((a, b) => b.priority - a.priority), { hideCaption: true, rowHeader: true }));
    });
    const about = health.error
      ? alertBox(app().message(health.error))
      : h("p", { class: "hint", id: "health-window" }, t("channels.healthWindow", { since: dateTime(health.since), requests: number(health.requests_read, 0), accounts: number(health.accounts_read, 0) }));
    add(main,
      app().header(t("channels.title"), h("a", { href: "#/admin/channels?new=1", class: "button primary", id: "add-channel" }, t("channels.add"))),
      savedNotice(params) ? h("p", { class: "notice", role: "status", id: "channel-saved" }, t("channels.saved", { id: params.channel, version: params.saved })) : null,
      about, sections);
  }

  // The notice a save leaves in the address: only a version number and a channel id, so a link cannot
  // make the page say something of its own
  function savedNotice(params) {
    return forms.savedVersion(params) !== null && /^[A-Za-z0-9._:-]{1,64}$/.test(params.channel || "");
  }

  function text(param, value, attrs) {
    return forms.control("input", param, { autocomplete: "off", value: value ?? "", ...(attrs || {}) });
  }

  async function edit(main, channelId) {
    const listing = await api.get("admin/channels");
    const isNew = !channelId;
    const channel = isNew ? { enabled: true, priority: 0, weight: 1, models: [] } : listing.data.find((c) => c.id === channelId);
    if (!channel) {
      add(main, app().header(t("channels.title")), alertBox(t("channels.notFound", { id: channelId })));
      return;
    }
    const providers = listing.providers;
    const id = text("id", channel.id, { required: true, spellcheck: "false", id: "channel-id", placeholder: "openai-b" });
    const provider = forms.control("select", "provider", { id: "channel-provider", disabled: !isNew }, providers.map((p) => h("option", { value: p.name, selected: p.name === channel.provider }, p.name)));
    const baseUrl = text("base_url", channel.base_url, { id: "channel-base-url", spellcheck: "false", inputmode: "url" });
    const key = forms.control("input", "api_key", { type: "password", id: "channel-key", autocomplete: "new-password", spellcheck: "false" });
    const models = h("fieldset", { class: "choices", "data-param": "models" }, h("legend", null, t("channels.models")));
    const drawModels = () => {
      const chosen = providers.find((p) => p.name === provider.value) || { models: [], default_base_url: "" };
      baseUrl.placeholder = chosen.default_base_url || "https://…";
      clear(models).append(h("legend", null, t("channels.models")), h("p", { class: "hint" }, t("channels.modelsHint")),
        h("div", { class: "choice-list" }, chosen.models.map((m) => forms.checkbox("models", (channel.models || []).includes(m), m, m))));
    };
    provider.addEventListener("change", drawModels);
    drawModels();
    const numbers = Object.fromEntries(["priority", "weight", "rpm", "tpm"].map((name) => [name, text(name, channel[name], { inputmode: "numeric", id: `channel-${name}` })]));
    const enabled = forms.checkbox("enabled", channel.enabled !== false, t("channels.enabledLabel"));
    const note = text("note", channel.note, { maxlength: 500 });
    const alertNode = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", id: "save-channel" }, isNew ? t("channels.create") : t("common.save"));
    const form = h("form", { class: "form panel", id: "channel-form" },
      h("div", { class: "row" }, isNew ? field(t("channels.id"), id, t("channels.idHint")) : null, field(t("channels.provider"), provider)),
      field(t("channels.baseUrl"), baseUrl, t("channels.baseUrlHint")),
      field(t("channels.key"), key, isNew ? t("channels.keyHintNew") : channel.has_secret ? t("channels.keyHintSet") : t("channels.keyHintNone")),
      models,
      h("div", { class: "row" },
        field(t("channels.priority"), numbers.priority, t("channels.priorityHint")),
        field(t("channels.weight"), numbers.weight, t("channels.weightHint")),
        field(t("channels.rpm"), numbers.rpm, t("channels.capHint")),
        field(t("channels.tpm"), numbers.tpm, t("channels.capHint"))),
      field(t("channels.note"), note), enabled,
      alertNode, h("div", { class: "actions" }, h("a", { href: "#/admin/channels", class: "button secondary" }, t("common.cancel")), submit));
    const collect = () => ({
      base_url: forms.value(baseUrl),
      models: [...models.querySelectorAll("input:checked")].map((box) => box.value),
      ...Object.fromEntries(Object.entries(numbers).map(([name, input]) => [name, forms.integer(input)])),
      enabled: enabled.querySelector("input").checked,
      note: note.value.trim(),
    });
    const loaded = collect(); // what the form showed: a save sends only what was changed since
    forms.onSubmit(form, submit, alertNode, async (idempotencyKey) => {
      const body = isNew ? collect() : forms.changedOnly(loaded, collect());
      if (key.value !== "") body.api_key = key.value;
      const headers = { "Idempotency-Key": idempotencyKey };
      const answer = isNew
        ? await api.post("admin/channels", Object.fromEntries(Object.entries({ id: id.value.trim(), provider: provider.value, ...body }).filter(([, v]) => v !== null)), headers)
        : await api.patch(`admin/channels/${encodeURIComponent(channel.id)}`, body, headers);
      key.value = "";
      app().go("admin/channels", "", { saved: answer.version, channel: answer.data.id });
    });
    add(main,
      app().header(isNew ? t("channels.new") : channel.id, h("a", { href: "#/admin/channels", class: "button secondary" }, t("common.back"))),
      form);
  }

  function render(main, arg, params) {
    return arg || "new" in params ? edit(main, arg) : list(main, params);
  }

  window.GW.pages["admin/channels"] = { nav: "nav.channels", render, operator: true, order: 4 };
})();
