/* Operators' pages: accounts (search, one account: top up, disable/enable, its price group, its
   history), the platform's totals by day, and the operator log (every operator action, on accounts and
   on the control plane). Each action is sent with an Idempotency-Key, so a repeated submit is done once. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, amount, clear, field, number, credits, dateTime, day, isoDay, table, badge, card, toast } = window.GW.dom;
  const api = window.GW.api;
  const charts = window.GW.charts;
  const filters = window.GW.filters;
  const app = () => window.GW.app;
  const PLATFORM_DAYS = 93; // the longest range of the platform's totals

  function statusBadge(account) {
    return account.disabled ? badge(t("admin.disabled"), "bad") : badge(t("admin.enabled"), "ok");
  }

  function accountLink(id, label) {
    return h("a", { href: `#/admin/accounts/${encodeURIComponent(id)}` }, label || id);
  }

  const actionKey = () => window.GW.forms.newKey();

  async function accounts(main, arg, params) {
    if (arg) return account(main, arg);
    const query = h("input", { type: "search", name: "q", value: params.q || "", autocomplete: "off", maxlength: 200 });
    const form = h("form", { class: "filters", role: "search" }, field(t("admin.search"), query), h("button", { type: "submit", class: "primary" }, t("admin.searchButton")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      app().go("admin/accounts", "", query.value.trim() ? { q: query.value.trim() } : {});
    });
    const columns = [
      { label: t("admin.name"), cell: (a) => accountLink(a.account_id, a.name) },
      { label: t("admin.id"), cell: (a) => h("code", null, a.account_id) },
      { label: t("admin.balance"), cell: (a) => credits(a.balance), numeric: true },
      { label: t("admin.used"), cell: (a) => credits(a.used), numeric: true },
      { label: t("admin.status"), cell: statusBadge },
      { label: t("admin.created"), cell: (a) => dateTime(a.created_at) },
    ];
    const first = await api.get("admin/accounts", { q: params.q });
    const list = h("div", null, table(t("admin.accounts"), columns, first.data, { hideCaption: true }));
    const more = h("button", { type: "button", class: "secondary", hidden: !first.next_cursor }, t("common.loadMore"));
    let cursor = first.next_cursor;
    more.addEventListener("click", async () => {
      const page = await api.get("admin/accounts", { q: params.q, cursor }).catch(app().fail);
      if (!page) return;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      list.querySelector("tbody").append(...table("", columns, page.data).querySelectorAll("tbody tr"));
    });
    add(main, app().header(t("admin.accounts")), form, list, h("div", { class: "actions" }, more));
    return undefined;
  }

  /** What an action was on: the account (a link), and the model, channel, code, batch or group it named. */
  function subject(entry, withAccount) {
    const account = withAccount && entry.account_id ? h("span", { class: "sub" }, accountLink(entry.account_id)) : null;
    const code = entry.action === "disable_code" || entry.action === "enable_code";  // a SHA-256: its start
    const named = entry.subject
      ? h("code", { class: "sub wrap-cell", title: entry.subject }, code ? `${entry.subject.slice(0, 10)}…` : entry.subject)
      : null;
    return [account, named];
  }

  /** What an action changed, in the page's language: its timestamps as dates, a replaced key in words. */
  function detail(entry) {
    if (!entry.detail) return "—";
    const text = entry.detail
      .replace(/"(\d{4}-\d\d-\d\dT[\d:.]+Z)"/g, (_, iso) => dateTime(iso))
      .replace("api_key (replaced)", t("admin.keyReplaced"));
    return h("span", { class: "detail" }, text);
  }

  function logColumns(withAccount) {
    return [
      { label: t("admin.when"), cell: (e) => h("div", { class: "stack" }, dateTime(e.at), h("span", { class: "sub" }, e.operator || "—")) },
      { label: t("admin.action"), cell: (e) => h("div", { class: "stack" }, h("strong", null, t(`admin.action.${e.action}`)), ...subject(e, withAccount)) },
      { label: t("usage.credits"), cell: (e) => (e.credits == null ? "—" : credits(e.credits)), numeric: true },
      { label: t("admin.detail"), cell: detail },
      { label: t("admin.noteShort"), cell: (e) => (e.note ? h("span", { class: "note" }, e.note) : "—") },
      { label: t("traces.traceId"), cell: (e) => h("code", { class: "sub wrap-cell trace-cell" }, e.trace_id || "—") },
    ];
  }

  function topUpForm(detail) {
    const amount = h("input", { name: "credits", type: "number", min: "0.000001", step: "0.000001", required: true, inputmode: "decimal" });
    const note = h("input", { name: "note", maxlength: 200, autocomplete: "off" });
    const error = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, t("admin.topUp"));
    const form = h("form", { class: "form panel", id: "top-up" }, h("h2", null, t("admin.topUp")),
      h("div", { class: "row" }, field(t("admin.topUpAmount"), amount), field(t("admin.note"), note, t("admin.noteHint"))), error, h("div", { class: "actions" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const sure = await confirm(t("admin.topUp"), t("admin.confirmTopUp", { credits: amount.value, name: detail.account.name }));
      if (!sure) return;
      submit.disabled = true;
      try {
        await api.post(`admin/accounts/${encodeURIComponent(detail.account.account_id)}/top-up`, { credits: amount.value, note: note.value }, { "Idempotency-Key": actionKey() });
        toast(t("admin.topUpDone", { credits: amount.value }));
        app().refresh();
      } catch (failure) {
        error.textContent = app().message(failure);
        submit.disabled = false;
      }
    });
    return form;
  }

  function confirm(title, text) {
    return window.GW.dom.confirmDialog(title, text, t("admin.confirm"), false);
  }

  function switchForm(detail) {
    const disabling = !detail.account.disabled;
    const note = h("input", { name: "note", maxlength: 200, autocomplete: "off" });
    const error = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: disabling ? "danger" : "primary" }, disabling ? t("admin.disable") : t("admin.enable"));
    const form = h("form", { class: "form panel", id: "account-status" }, h("h2", null, disabling ? t("admin.disable") : t("admin.enable")),
      h("p", null, disabling ? t("admin.disableText") : t("admin.enableText")), field(t("admin.note"), note, t("admin.noteHint")), error, h("div", { class: "actions" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const sure = await window.GW.dom.confirmDialog(submit.textContent, disabling ? t("admin.disableText") : t("admin.enableText"), t("admin.confirm"), disabling);
      if (!sure) return;
      submit.disabled = true;
      try {
        await api.post(`admin/accounts/${encodeURIComponent(detail.account.account_id)}/status`, { disabled: disabling, note: note.value }, { "Idempotency-Key": actionKey() });
        toast(t("admin.switched"));
        app().refresh();
      } catch (failure) {
        error.textContent = app().message(failure);
        submit.disabled = false;
      }
    });
    return form;
  }

  /** The account's price group: every price of its next requests times the group's ratio. */
  function groupForm(detail, groups) {
    const current = detail.profile.group;
    const choice = window.GW.forms.control("select", "group", { id: "account-group" },
      h("option", { value: "", selected: current === "default" }, t("admin.defaultGroup")),
      groups.filter((g) => g.name !== "default").map((g) => h("option", { value: g.name, selected: g.name === current }, `${g.name} (× ${g.ratio})`)));
    const alertNode = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, t("common.save"));
    const form = h("form", { class: "form panel", id: "price-group" }, h("h2", null, t("admin.priceGroup")),
      field(t("admin.priceGroup"), choice, t("admin.priceGroupHint")), alertNode, h("div", { class: "actions" }, submit));
    window.GW.forms.onSubmit(form, submit, alertNode, async (key) => {
      await api.put(`admin/accounts/${encodeURIComponent(detail.account.account_id)}/group`, { group: choice.value || null }, { "Idempotency-Key": key });
      toast(t("admin.groupSaved"));
      app().refresh();
    });
    return form;
  }

  async function account(main, id) {
    const [detail, groups] = await Promise.all([api.get(`admin/accounts/${encodeURIComponent(id)}`), api.get("admin/groups")]);
    const a = detail.account;
    add(main, 
      app().header(a.name, h("a", { href: "#/admin/accounts", class: "button secondary" }, t("common.back"))),
      h("div", { class: "cards" },
        card(t("admin.balance"), amount(a.balance)),
        card(t("admin.month"), amount(detail.month.total_credits), t("overview.monthRequests", { count: number(detail.month.total_requests, 0), date: detail.month.date_from })),
        card(t("overview.granted"), amount(a.granted)),
        card(t("admin.status"), statusBadge(a), h("code", null, a.account_id))),
      h("div", { class: "two" }, topUpForm(detail), switchForm(detail), groupForm(detail, groups.data)),
      h("h2", null, t("admin.history")),
      table(t("admin.history"), logColumns(false), detail.log, { hideCaption: true })
    );
  }

  async function platform(main, _arg, params) {
    add(main, app().header(t("admin.platform")), filters.filterForm("admin/platform", filters.dateInputs(params), PLATFORM_DAYS));
    const data = await filters.fetched(main, api.get("admin/totals", { date_from: params.date_from || isoDay(-29), date_to: params.date_to || isoDay(0) }));
    if (!data) return;
    const points = (of) => data.by_day.map((row) => ({ label: day(row.date), title: row.date, value: of(row) }));
    const chartArea = h("div", { class: "charts" });
    const draw = () => clear(chartArea).append(
      charts.columns(t("usage.chartDay", { metric: t("usage.credits") }), points((r) => r.credits), credits),
      charts.columns(t("usage.chartDay", { metric: t("usage.requests") }), points((r) => r.requests), (v) => number(v, 0)));
    draw();
    charts.redrawOnResize(chartArea, draw);
    add(main,
      h("div", { class: "cards" },
        card(t("usage.requests"), number(data.total_requests, 0)),
        card(t("usage.errors"), number(data.total_errors, 0)),
        card(t("usage.tokens"), number(data.total_tokens, 0)),
        card(t("usage.credits"), credits(data.total_credits))),
      chartArea,
      h("details", { class: "panel" }, h("summary", null, t("common.showTable")),
        table(t("usage.byDay"), [
          { label: t("usage.date"), cell: (r) => r.date },
          { label: t("usage.requests"), cell: (r) => number(r.requests, 0), numeric: true },
          { label: t("usage.errors"), cell: (r) => number(r.errors, 0), numeric: true },
          { label: t("usage.tokens"), cell: (r) => number(r.tokens, 0), numeric: true },
          { label: t("usage.credits"), cell: (r) => credits(r.credits), numeric: true },
          { label: t("admin.activeAccounts"), cell: (r) => number(r.accounts, 0), numeric: true },
        ], data.by_day, { rowHeader: true }))
    );
  }

  async function log(main) {
    const first = await api.get("admin/log");
    const list = h("div", null, table(t("admin.log"), logColumns(true), first.data, { hideCaption: true }));
    const more = h("button", { type: "button", class: "secondary", hidden: !first.next_cursor }, t("common.loadMore"));
    let cursor = first.next_cursor;
    more.addEventListener("click", async () => {
      const page = await api.get("admin/log", { cursor }).catch(app().fail);
      if (!page) return;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      list.querySelector("tbody").append(...table("", logColumns(true), page.data).querySelectorAll("tbody tr"));
    });
    add(main, app().header(t("admin.log")), list, h("div", { class: "actions" }, more));
  }

  Object.assign(window.GW.pages, {
    "admin/accounts": { nav: "nav.accounts", render: accounts, operator: true, order: 1 },
    "admin/platform": { nav: "nav.platform", render: platform, operator: true, order: 6 },
    "admin/log": { nav: "nav.log", render: log, operator: true, order: 7 },
  });
})();
