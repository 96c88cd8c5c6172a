/* Operators: top-up codes. Mint (credits, how many, expiry, batch): the codes are shown once, to copy
   or download; then the list (never a code's text: its id, a SHA-256), each code's state, and disabling
   or enabling one. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, field, credits, dateTime, table, badge, toast, modal, copy } = window.GW.dom;
  const forms = window.GW.forms;
  const api = window.GW.api;
  const app = () => window.GW.app;
  const STATES = { active: "ok", redeemed: "muted", disabled: "bad", expired: "warn" };

  function state(code) {
    return badge(t(`codes.status.${code.status}`), STATES[code.status]);
  }

  function shortId(id) {
    return h("code", { title: id }, `${id.slice(0, 10)}…`);
  }

  function mintForm() {
    const amount = forms.control("input", "credits", { type: "number", min: "0.000001", step: "0.000001", required: true, inputmode: "decimal", id: "mint-credits" });
    const count = forms.control("input", "count", { type: "number", min: 1, max: 1000, step: 1, value: "1", required: true, inputmode: "numeric", id: "mint-count" });
    const days = forms.control("input", "expires_in_days", { type: "number", min: 1, max: 3650, step: 1, inputmode: "numeric", id: "mint-days" });
    const batch = forms.control("input", "batch", { maxlength: 64, autocomplete: "off", id: "mint-batch" });
    const alertNode = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", id: "mint-submit" }, t("codes.mint"));
    const form = h("form", { class: "form panel", id: "mint" }, h("h2", null, t("codes.mint")),
      h("div", { class: "row" },
        field(t("codes.credits"), amount, t("codes.creditsHint")),
        field(t("codes.count"), count, t("codes.countHint")),
        field(t("codes.expiresInDays"), days, t("codes.expiresHint")),
        field(t("codes.batch"), batch, t("codes.batchHint"))),
      alertNode, h("div", { class: "actions" }, submit));
    forms.onSubmit(form, submit, alertNode, async (key) => {
      const body = { credits: amount.value.trim(), count: forms.integer(count) };
      if (forms.value(days) !== null) body.expires_in_days = forms.integer(days);
      if (forms.value(batch) !== null) body.batch = batch.value.trim();
      const minted = await api.post("admin/codes", body, { "Idempotency-Key": key });
      if (minted.replayed) toast(t("codes.replayed"));
      else await showMinted(minted);
      app().refresh();
    });
    return form;
  }

  /** The codes, this once: copy them all, or download them as a text file (one a line). */
  async function showMinted(minted) {
    const text = `${minted.codes.join("\n")}\n`;
    const batch = minted.action.subject || "codes";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    await modal(t("codes.mintedTitle", { count: minted.codes.length }), (close) => {
      const area = h("textarea", { id: "minted-codes", class: "secret", readonly: true, rows: Math.min(minted.codes.length, 10), spellcheck: "false", "aria-label": t("codes.minted") });
      area.value = minted.codes.join("\n");
      const copyAll = h("button", { type: "button", class: "primary", id: "copy-codes" }, t("codes.copyAll"));
      copyAll.addEventListener("click", () => copy(text, copyAll, area));
      const download = h("a", { class: "button secondary", id: "download-codes", href: url, download: `${batch.replace(/[^\w.-]+/g, "_")}.txt` }, t("codes.download"));
      return h("div", null,
        h("p", null, t("codes.mintedText", { credits: credits(minted.data[0].credits), batch })),
        area,
        h("div", { class: "actions" }, copyAll, download, h("button", { type: "button", class: "secondary", onclick: () => close() }, t("common.close"))));
    });
    URL.revokeObjectURL(url);
  }

  async function toggle(code) {
    const disabling = code.status === "active";
    await api.patch(`admin/codes/${code.id}`, { disabled: disabling }, { "Idempotency-Key": forms.newKey() });
    toast(disabling ? t("codes.disabledDone") : t("codes.enabledDone"));
    app().refresh();
  }

  function columns() {
    const act = (code) => {
      if (code.status !== "active" && code.status !== "disabled") return "—";
      const disabling = code.status === "active";
      return h("button", { type: "button", class: ["small", disabling ? "secondary" : "primary"], dataset: { focusKey: `code:${code.id}` }, onclick: () => toggle(code).catch(app().fail) },
        disabling ? t("codes.disable") : t("codes.enable"));
    };
    return [
      { label: t("codes.id"), cell: (c) => shortId(c.id) },
      { label: t("usage.credits"), cell: (c) => credits(c.credits), numeric: true },
      { label: t("codes.status"), cell: state },
      { label: t("codes.batch"), cell: (c) => c.batch },
      {
        label: t("codes.createdExpires"),
        cell: (c) => h("div", { class: "stack" }, h("span", null, dateTime(c.created_at)),
          h("span", { class: "sub" }, t("codes.expiresOn", { date: c.expires_at ? dateTime(c.expires_at) : t("common.never") }))),
      },
      {
        label: t("codes.redeemed"),
        cell: (c) => (c.redeemed_by
          ? h("div", { class: "stack" }, h("a", { href: `#/admin/accounts/${encodeURIComponent(c.redeemed_by)}` }, c.redeemed_by), h("span", { class: "sub" }, dateTime(c.redeemed_at)))
          : "—"),
      },
      { label: t("keys.actions"), cell: act },
    ];
  }

  async function render(main) {
    const first = await api.get("admin/codes");
    const list = h("div", null, table(t("codes.title"), columns(), first.data, { hideCaption: true }));
    const more = h("button", { type: "button", class: "secondary", hidden: !first.next_cursor }, t("common.loadMore"));
    let cursor = first.next_cursor;
    more.addEventListener("click", async () => {
      const page = await api.get("admin/codes", { cursor }).catch(app().fail);
      if (!page) return;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      list.querySelector("tbody").append(...table("", columns(), page.data).querySelectorAll("tbody tr"));
    });
    add(main, app().header(t("codes.title")), h("p", { class: "hint" }, t("codes.intro")), mintForm(),
      h("h2", null, t("codes.list")), list, h("div", { class: "actions" }, more));
  }

  window.GW.pages["admin/codes"] = { nav: "nav.codes", render, operator: true, order: 2 };
})();
