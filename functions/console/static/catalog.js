/* Operators: models and prices. The list (every model, disabled ones too, with its prices, limits and
   providers; disable or enable one), and one model's form: names, category, capabilities, limits,
   prices (cached input, cache writes, audio, per request, media units, long-prompt tiers) and its
   providers in order. A change is a merge patch of what the form holds; the answer names the catalog
   version that carries it, live on every function within seconds. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, clear, field, number, table, badge, toast } = window.GW.dom;
  const forms = window.GW.forms;
  const api = window.GW.api;
  const app = () => window.GW.app;
  const CATEGORIES = ["chat", "embedding", "image", "speech", "transcription"];
  const CAPABILITIES = ["chat", "streaming", "tools", "vision", "json_mode", "reasoning", "completions", "embeddings", "images", "speech", "transcription"];
  const PRICES = ["input", "output", "cached_input", "cache_write_input", "cache_write_1h_input", "audio_input", "cached_audio_input", "request", "characters", "audio_seconds"];
  const TIER_PRICES = ["input", "output", "cached_input", "cache_write_input"];

  function link(id) {
    return `#/admin/models/${encodeURIComponent(id)}`;
  }

  function enabledBadge(spec) {
    return spec.enabled === false ? badge(t("models.disabled"), "bad") : badge(t("models.enabled"), "ok");
  }

  function price(value) {
    return value === undefined || value === null ? "—" : number(Number(value), 6);
  }

  async function setEnabled(spec, enabled) {
    const answer = await api.patch(`admin/models/${encodeURIComponent(spec.id)}`, { enabled }, { "Idempotency-Key": forms.newKey() });
    toast(t("models.saved", { version: answer.version }));
    return answer;
  }

  async function list(main) {
    const catalog = await api.get("admin/models");
    const columns = [
      {
        label: t("models.model"),
        cell: (m) => h("div", { class: "stack" }, h("a", { href: link(m.id), class: "mono" }, m.id),
          h("span", { class: "sub" }, `${m.display_name} · ${t(`models.category.${m.category || "chat"}`)}`)),
      },
      { label: t("models.inOut"), cell: (m) => `${price((m.pricing || {}).input || 0)} / ${price((m.pricing || {}).output || 0)}`, numeric: true },
      { label: t("models.price.cached_input"), cell: (m) => price((m.pricing || {}).cached_input), numeric: true },
      { label: t("models.contextOutput"), cell: (m) => `${number(m.context_length || 1, 0)} / ${number(m.max_output_tokens || 1, 0)}`, numeric: true },
      { label: t("models.providers"), cell: (m) => (m.providers || []).map((p) => p.provider).join(", ") },
      { label: t("models.status"), cell: enabledBadge },
      {
        label: t("keys.actions"),
        cell: (m) => h("div", { class: "row-actions" },  /* its id links to its form */
          h("button", { type: "button", class: "small secondary", dataset: { focusKey: `model:${m.id}` }, onclick: () => setEnabled(m, m.enabled === false).then(app().refresh, app().fail) },
            m.enabled === false ? t("models.enable") : t("models.disable"))),
      },
    ];
    const filter = h("input", { type: "search", id: "model-filter", autocomplete: "off", placeholder: "gpt-4o" });
    const region = table(t("models.title"), columns, catalog.data, { hideCaption: true, rowHeader: true });
    filter.addEventListener("input", () => {
      const words = filter.value.trim().toLowerCase();
      region.querySelectorAll("tbody tr").forEach((row, index) => {
        const spec = catalog.data[index];
        const haystack = spec ? [spec.id, spec.display_name, ...(spec.aliases || [])].join(" ").toLowerCase() : "";
        row.hidden = Boolean(words) && !haystack.includes(words);
      });
    });
    add(main,
      app().header(t("models.title"), h("a", { href: "#/admin/models?new=1", class: "button primary", id: "add-model" }, t("models.add"))),
      h("p", { class: "hint" }, t("models.intro", { version: catalog.version, count: catalog.data.length })),
      h("div", { class: "filters" }, field(t("models.filter"), filter)),
      region);
  }

  /** Rows of inputs (tiers, providers) under one API field, added and removed; `values()` reads them. */
  function rowEditor(param, legend, addLabel, columns, rows, emptyRow) {
    const body = h("tbody");
    const box = h("fieldset", { class: "choices rows", "data-param": param }, h("legend", null, legend));
    let current = rows.map((row) => ({ ...row }));
    const read = () => {
      current = [...body.querySelectorAll("tr")].map((tr) => Object.fromEntries(columns.map((c) => [c.name, tr.querySelector(`[data-column="${c.name}"]`).value])));
    };
    const head = h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c.label)), h("th", null, h("span", { class: "visually-hidden" }, t("keys.actions")))));
    const none = h("p", { class: "hint" }, t("common.empty"));
    const draw = () => {
      clear(body);
      head.hidden = current.length === 0;
      none.hidden = current.length > 0;
      current.forEach((row, index) => {
        const cells = columns.map((c) => {
          const input = c.options
            ? forms.control("select", `${param}.${index}.${c.name}`, { "data-column": c.name, "aria-label": `${c.label} ${index + 1}` }, c.options.map((o) => h("option", { value: o, selected: o === row[c.name] }, o)))
            : forms.control("input", `${param}.${index}.${c.name}`, { "data-column": c.name, "aria-label": `${c.label} ${index + 1}`, inputmode: c.inputmode || null, autocomplete: "off", value: row[c.name] ?? "" });
          return h("td", null, input);
        });
        const remove = h("button", { type: "button", class: "small secondary", "aria-label": t("models.removeRow", { row: index + 1 }) }, t("models.remove"));
        remove.addEventListener("click", () => {
          read();
          current.splice(index, 1);
          draw();
          addRow.focus();  // the removed row's button is gone: focus stays in this fieldset
        });
        body.append(h("tr", null, cells, h("td", null, remove)));
      });
    };
    const addRow = h("button", { type: "button", class: "small secondary" }, addLabel);
    addRow.addEventListener("click", () => {
      read();
      current.push({ ...emptyRow });
      draw();
      body.querySelector("tr:last-child input, tr:last-child select").focus();
    });
    draw();
    add(box, none, h("div", { class: "table-wrap plain" }, h("table", null, head, body)), addRow);
    return { node: box, values: () => (read(), current) };
  }

  function text(param, value, attrs) {
    return forms.control("input", param, { autocomplete: "off", value: value ?? "", ...(attrs || {}) });
  }

  async function edit(main, modelId, params) {
    const isNew = !modelId;
    const found = isNew ? await api.get("admin/models") : await api.get(`admin/models/${encodeURIComponent(modelId)}`);
    const spec = isNew ? { category: "chat", capabilities: ["chat", "streaming"], enabled: true, pricing: {}, providers: [] } : found.data;
    const providerNames = Object.keys(found.providers);
    const pricing = spec.pricing || {};
    const id = text("id", spec.id, { required: true, spellcheck: "false", placeholder: "openai/gpt-4o-mini", id: "model-id" });
    const displayName = text("display_name", spec.display_name, { required: true, id: "model-display-name" });
    const ownedBy = text("owned_by", spec.owned_by, { required: true });
    const category = forms.control("select", "category", null, CATEGORIES.map((c) => h("option", { value: c, selected: c === (spec.category || "chat") }, t(`models.category.${c}`))));
    const aliases = text("aliases", (spec.aliases || []).join(", "), { spellcheck: "false" });
    const known = [...new Set([...CAPABILITIES, ...(spec.capabilities || [])])];
    const capabilities = h("fieldset", { class: "choices", "data-param": "capabilities" }, h("legend", null, t("models.capabilities")),
      h("div", { class: "choice-list" }, known.map((c) => forms.checkbox("capabilities", (spec.capabilities || []).includes(c), c, c))));
    const enabled = forms.checkbox("enabled", spec.enabled !== false, t("models.enabledLabel"));
    const limits = {
      context_length: text("context_length", spec.context_length, { inputmode: "numeric", id: "model-context" }),
      extended_context_length: text("extended_context_length", spec.extended_context_length, { inputmode: "numeric" }),
      max_output_tokens: text("max_output_tokens", spec.max_output_tokens, { inputmode: "numeric", id: "model-max-output" }),
    };
    const prices = Object.fromEntries(PRICES.map((name) => [name, text(`pricing.${name}`, pricing[name], { inputmode: "decimal", id: `price-${name}` })]));
    const tiers = rowEditor("pricing.tiers", t("models.tiers"), t("models.addTier"),
      [{ name: "above_prompt_tokens", label: t("models.tierAbove"), inputmode: "numeric" }, ...TIER_PRICES.map((name) => ({ name, label: t(`models.price.${name}`), inputmode: "decimal" }))],
      pricing.tiers || [], { above_prompt_tokens: "", input: "", output: "" });
    const providers = rowEditor("providers", t("models.providers"), t("models.addProvider"),
      [{ name: "provider", label: t("models.provider"), options: providerNames }, { name: "model", label: t("models.upstreamModel") }],
      spec.providers || [], { provider: providerNames[0] || "", model: "" });
    const alertNode = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", id: "save-model" }, isNew ? t("models.create") : t("common.save"));
    const form = h("form", { class: "form", id: "model-form" },
      h("fieldset", { class: "panel group" }, h("legend", null, t("models.basics")),
        h("div", { class: "row" }, isNew ? field(t("models.id"), id, t("models.idHint")) : null, field(t("models.displayName"), displayName), field(t("models.ownedBy"), ownedBy), field(t("models.category"), category)),
        field(t("models.aliases"), aliases, t("models.aliasesHint")), capabilities, enabled),
      h("fieldset", { class: "panel group" }, h("legend", null, t("models.limits")),
        h("div", { class: "row" }, Object.entries(limits).map(([name, input]) => field(t(`models.limit.${name}`), input)))),
      h("fieldset", { class: "panel group" }, h("legend", null, t("models.prices")), h("p", { class: "hint" }, t("models.pricesHint")),
        h("div", { class: "row" }, PRICES.map((name) => field(t(`models.price.${name}`), prices[name]))), tiers.node),
      h("fieldset", { class: "panel group" }, h("legend", null, t("models.routing")), h("p", { class: "hint" }, t("models.providersHint")), providers.node),
      alertNode, h("div", { class: "actions" }, submit));
    const collect = () => {
      const priceValues = Object.fromEntries(PRICES.map((name) => [name, forms.value(prices[name])]));
      const tierRows = tiers.values().map((row) =>
        Object.fromEntries(Object.entries(row).map(([name, v]) => [name, name === "above_prompt_tokens" ? forms.whole(v) : v.trim()]).filter(([, v]) => v !== "" && v !== null)));
      return {
        display_name: forms.value(displayName),
        owned_by: forms.value(ownedBy),
        category: category.value,
        aliases: aliases.value.split(",").map((a) => a.trim()).filter(Boolean),
        capabilities: [...capabilities.querySelectorAll("input:checked")].map((box) => box.value),
        enabled: enabled.querySelector("input").checked,
        ...Object.fromEntries(Object.entries(limits).map(([name, input]) => [name, forms.integer(input)])),
        pricing: { ...priceValues, tiers: tierRows },
        providers: providers.values().map((row) => ({ provider: row.provider, model: row.model.trim() })),
      };
    };
    const loaded = collect(); // what the form showed: a save sends only what was changed since
    forms.onSubmit(form, submit, alertNode, async (key) => {
      const body = collect();
      const answer = isNew
        ? await api.post("admin/models", { id: id.value.trim(), ...withoutNulls(body) }, { "Idempotency-Key": key })
        : await api.patch(`admin/models/${encodeURIComponent(spec.id)}`, forms.changedOnly(loaded, body), { "Idempotency-Key": key });
      app().go("admin/models", answer.data.id, { saved: answer.version });
    });
    const toggle = isNew ? null : h("button", { type: "button", class: spec.enabled === false ? "primary" : "danger", id: "toggle-model" }, spec.enabled === false ? t("models.enable") : t("models.disable"));
    if (toggle) toggle.addEventListener("click", () => setEnabled(spec, spec.enabled === false).then((answer) => app().go("admin/models", spec.id, { saved: answer.version }), app().fail));
    add(main,
      app().header(isNew ? t("models.new") : spec.id, toggle, h("a", { href: "#/admin/models", class: "button secondary" }, t("common.back"))),
      forms.savedVersion(params) ? h("p", { class: "notice", role: "status", id: "model-saved" }, t("models.saved", { version: params.saved })) : null,
      isNew ? null : h("p", { class: "hint page-meta" }, enabledBadge(spec), " ", t("models.versionNow", { version: found.version })),
      form);
  }

  function withoutNulls(value) {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
    return value;
  }

  function render(main, arg, params) {
    return arg || "new" in params ? edit(main, arg, params) : list(main);
  }

  window.GW.pages["admin/models"] = { nav: "nav.models", render, operator: true, order: 3 };
})();
