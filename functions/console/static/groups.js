/* Operators: price groups (a ratio on every price for the accounts in a group; `default`, if set,
   prices the accounts in none). An account's group is set on its page (admin.js). */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, field, number, table, toast } = window.GW.dom;
  const forms = window.GW.forms;
  const api = window.GW.api;
  const app = () => window.GW.app;

  async function render(main) {
    const { data } = await api.get("admin/groups");
    const name = forms.control("input", "name", { required: true, maxlength: 63, autocomplete: "off", spellcheck: "false", id: "group-name", placeholder: "resellers" });
    const ratio = forms.control("input", "ratio", { required: true, inputmode: "decimal", autocomplete: "off", id: "group-ratio", placeholder: "0.8" });
    const note = forms.control("input", "note", { maxlength: 500, autocomplete: "off", id: "group-note" });
    const alertNode = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", id: "save-group" }, t("common.save"));
    const form = h("form", { class: "form panel", id: "group-form" }, h("h2", null, t("groups.set")),
      h("div", { class: "row" }, field(t("groups.name"), name, t("groups.nameHint")), field(t("groups.ratio"), ratio, t("groups.ratioHint")), field(t("groups.note"), note)),
      alertNode, h("div", { class: "actions" }, submit));
    forms.onSubmit(form, submit, alertNode, async (key) => {
      const answer = await api.put(`admin/groups/${encodeURIComponent(name.value.trim())}`, { ratio: ratio.value.trim(), note: note.value.trim() }, { "Idempotency-Key": key });
      toast(t("groups.saved", { name: answer.data.name, version: answer.version }));
      app().refresh();
    });
    const fill = (group) => {
      name.value = group.name;
      ratio.value = group.ratio;
      note.value = group.note || "";
      ratio.focus();
    };
    const columns = [
      { label: t("groups.name"), cell: (g) => h("code", null, g.name) },
      { label: t("groups.ratio"), cell: (g) => `× ${number(Number(g.ratio), 6)}`, numeric: true },
      { label: t("groups.note"), cell: (g) => g.note || "—" },
      { label: t("keys.actions"), cell: (g) => h("button", { type: "button", class: "small secondary", onclick: () => fill(g) }, t("groups.edit")) },
    ];
    add(main, app().header(t("groups.title")), h("p", { class: "hint" }, t("groups.intro")),
      table(t("groups.title"), columns, data, { hideCaption: true, rowHeader: true }), form);
  }

  window.GW.pages["admin/groups"] = { nav: "nav.groups", render, operator: true, order: 5 };
})();
