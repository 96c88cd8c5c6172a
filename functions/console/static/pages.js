/* The customer's pages: overview, usage (charts by day and by model), traces (filters, one request with
   its attempts) and quick start (SDK snippets with this gateway's base URL). */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, amount, field, number, credits, dateTime, day, isoDay, table, badge, card, copy, clear } = window.GW.dom;
  const api = window.GW.api;
  const charts = window.GW.charts;
  const { dateInputs, select, filterForm, fetched } = window.GW.filters;
  const app = () => window.GW.app;

  async function overview(main) {
    const me = await app().me(true);
    const { account, month } = me;
    const balance = card(t("overview.balance"), amount(account.balance));
    const granted = card(t("overview.granted"), amount(account.granted));
    balance.id = "balance";
    granted.id = "granted";
    add(main,
      app().header(t("overview.title")),
      account.disabled ? h("div", { class: "alert", role: "alert" }, t("overview.disabled")) : null,
      h(
        "div",
        { class: "cards" },
        balance,
        card(t("overview.month"), amount(month.total_credits),
          t("overview.monthRequests", { count: number(month.total_requests), date: month.date_from })),
        granted,
        card(t("overview.account"), h("code", null, account.account_id), me.user.email)
      ),
      account.disabled ? null : redeemForm(balance, granted),
      h("section", { class: "panel" }, h("h2", null, t("overview.next")),
        h("ol", { class: "steps" },
          h("li", null, h("a", { href: "#/keys" }, t("overview.step1"))),
          h("li", null, h("a", { href: "#/quickstart" }, t("overview.step2"))),
          h("li", null, h("a", { href: "#/traces" }, t("overview.step3")))))
    );
  }

  /** Redeem a top-up code: the balance cards show the new balance at once; a code that cannot be
      redeemed (unknown, expired, disabled, redeemed already) says why and changes nothing. */
  function redeemForm(balance, granted) {
    const code = h("input", { name: "key", id: "redeem-code", required: true, maxlength: 128, autocomplete: "off", spellcheck: "false", placeholder: "gwc-…" });
    const error = h("div", { class: "form-error", role: "alert", id: "redeem-error" });
    const done = h("p", { class: "notice", role: "status", id: "redeem-done", hidden: true });
    const submit = h("button", { type: "submit", class: "primary", id: "redeem-submit" }, t("redeem.submit"));
    const form = h("form", { class: "form panel", id: "redeem" }, h("h2", null, t("redeem.title")),
      h("p", { class: "hint" }, t("redeem.text")),
      h("div", { class: "filters" }, field(t("redeem.code"), code), submit), error, done);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      done.hidden = true;
      submit.disabled = true;
      try {
        const redeemed = await api.post("topup", { key: code.value.trim() });
        code.value = "";
        balance.querySelector(".card-value").replaceChildren(...amount(redeemed.account.balance));
        granted.querySelector(".card-value").replaceChildren(...amount(redeemed.account.granted));
        done.textContent = t("redeem.done", { credits: credits(redeemed.credited), balance: credits(redeemed.account.balance) });
        done.hidden = false;
      } catch (failure) {
        error.textContent = app().message(failure);
        code.focus();
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  async function keyChoices() {
    const keys = await api.get("keys");
    return keys.data;
  }

  function days(from, to) {
    const list = [];
    for (let moment = new Date(`${from}T00:00:00Z`); moment <= new Date(`${to}T00:00:00Z`); moment = new Date(moment.getTime() + 86400000)) {
      list.push(moment.toISOString().slice(0, 10));
    }
    return list;
  }

  const METRICS = {
    credits: { label: () => t("usage.credits"), of: (row) => row.credits, format: (v) => credits(v) },
    requests: { label: () => t("usage.requests"), of: (row) => row.requests, format: (v) => number(v, 0) },
    tokens: { label: () => t("usage.tokens"), of: (row) => row.tokens, format: (v) => number(v, 0) },
  };

  async function usage(main, _arg, params) {
    const [catalog, keys] = await Promise.all([app().catalog(), keyChoices()]);
    const keyName = Object.fromEntries(keys.map((k) => [k.hash, `${k.name} (${k.key_prefix}…)`]));
    add(main,
      app().header(t("usage.title")),
      filterForm("usage", [
        ...dateInputs(params),
        select("model", t("usage.model"), catalog.models, params.model),
        select("key", t("usage.key"), keys.map((k) => k.hash), params.key, null, (hash) => keyName[hash]),
      ]));
    const data = await fetched(main, api.get("usage", { date_from: params.date_from || isoDay(-29), date_to: params.date_to || isoDay(0), model: params.model, key: params.key }));
    if (!data) return;
    const metric = h("select", { name: "metric", id: "usage-metric" }, Object.entries(METRICS).map(([value, m]) => h("option", { value }, m.label())));
    const chartArea = h("div", { class: "charts" });
    const byDay = new Map(data.by_day.map((row) => [row.date, row]));
    const draw = () => {
      const chosen = METRICS[metric.value];
      const points = days(data.date_from, data.date_to).map((date) => ({ label: day(date), title: date, value: byDay.has(date) ? chosen.of(byDay.get(date)) : 0 }));
      clear(chartArea).append(
        charts.columns(t("usage.chartDay", { metric: chosen.label() }), points, chosen.format),
        charts.rows(t("usage.chartModel", { metric: chosen.label() }), data.by_model.map((row) => ({ label: row.model, value: chosen.of(row) })), chosen.format)
      );
    };
    metric.addEventListener("change", draw);
    charts.redrawOnResize(chartArea, draw);
    const summaryColumns = (first) => [
      first,
      { label: t("usage.requests"), cell: (r) => number(r.requests, 0), numeric: true },
      { label: t("usage.errors"), cell: (r) => number(r.errors, 0), numeric: true },
      { label: t("usage.tokens"), cell: (r) => number(r.tokens, 0), numeric: true },
      { label: t("usage.credits"), cell: (r) => credits(r.credits), numeric: true },
    ];
    add(main,
      h("div", { class: "cards" },
        card(t("usage.requests"), number(data.total_requests, 0)),
        card(t("usage.errors"), number(data.total_errors, 0)),
        card(t("usage.tokens"), number(data.total_tokens, 0)),
        card(t("usage.credits"), credits(data.total_credits), `${t("usage.cost")}: ${number(data.total_cost_usd, 4)}`)),
      h("div", { class: "toolbar" }, field(t("usage.metric"), metric)),
      chartArea,
      h("details", { class: "panel" }, h("summary", null, t("common.showTable")),
        table(t("usage.byDay"), summaryColumns({ label: t("usage.date"), cell: (r) => r.date }), data.by_day, { rowHeader: true }),
        table(t("usage.byModel"), summaryColumns({ label: t("usage.model"), cell: (r) => r.model }), data.by_model, { rowHeader: true }))
    );
    draw();
  }

  function statusBadge(status) {
    return badge(t(`traces.status.${status}`), status === "success" ? "ok" : status === "error" ? "bad" : "warn");
  }

  function traceLink(id) {
    return h("a", { href: `#/traces/${encodeURIComponent(id)}`, class: "mono" }, id);
  }

  async function traces(main, arg, params) {
    if (arg) return trace(main, arg);
    const [catalog, keys] = await Promise.all([app().catalog(), keyChoices()]);
    const keyName = Object.fromEntries(keys.map((k) => [k.hash, `${k.name} (${k.key_prefix}…)`]));
    const query = { status: params.status, model: params.model, key: params.key, date_from: params.date_from || isoDay(-29), date_to: params.date_to || isoDay(0), page_size: 25 };
    const finder = h("input", { name: "trace_id", required: true, placeholder: "gen-…", autocomplete: "off", spellcheck: "false", maxlength: 128 });
    const find = h("form", { class: "filters", role: "search" }, field(t("traces.find"), finder), h("button", { type: "submit", class: "primary" }, t("traces.open")));
    find.addEventListener("submit", (event) => {
      event.preventDefault();
      if (finder.value.trim()) app().go("traces", finder.value.trim());
    });
    add(main,
      app().header(t("traces.title")),
      find,
      filterForm("traces", [
        select("status", t("traces.status"), ["success", "error", "expired"], params.status, t("common.any"), (s) => t(`traces.status.${s}`)),
        select("model", t("usage.model"), catalog.models, params.model),
        select("key", t("usage.key"), keys.map((k) => k.hash), params.key, null, (hash) => keyName[hash]),
        ...dateInputs(params),
      ]));
    const first = await fetched(main, api.get("traces", query));
    if (!first) return undefined;
    const columns = [
      { label: t("traces.time"), cell: (r) => dateTime(r.created_at) },
      { label: t("traces.traceId"), cell: (r) => traceLink(r.trace_id) },
      { label: t("usage.model"), cell: (r) => r.model },
      { label: t("traces.provider"), cell: (r) => r.provider || "—" },
      { label: t("traces.status"), cell: (r) => statusBadge(r.status) },
      { label: t("traces.http"), cell: (r) => r.http_status, numeric: true },
      { label: t("traces.tokensInOut"), cell: (r) => `${number(r.prompt_tokens, 0)} / ${number(r.completion_tokens, 0)}`, numeric: true },
      { label: t("usage.credits"), cell: (r) => credits(r.credits), numeric: true },
      { label: t("traces.latency"), cell: (r) => `${number(r.latency_ms, 0)} ms`, numeric: true },
    ];
    const list = h("div", null, table(t("traces.title"), columns, first.data, { hideCaption: true }));
    const more = h("button", { type: "button", class: "secondary", hidden: !first.next_cursor }, t("common.loadMore"));
    let cursor = first.next_cursor;
    more.addEventListener("click", async () => {
      const page = await api.get("traces", { ...query, cursor }).catch(app().fail);
      if (!page) return;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const body = list.querySelector("tbody");
      const extra = table("", columns, page.data).querySelectorAll("tbody tr");
      if (page.data.length) {
        if (body.querySelector("td.empty")) body.replaceChildren();
        body.append(...extra);
      }
    });
    add(main,
      list,
      h("div", { class: "actions" }, more)
    );
    return undefined;
  }

  async function trace(main, id) {
    const { data } = await api.get(`traces/${encodeURIComponent(id)}`);
    const rows = [
      [t("traces.time"), dateTime(data.created_at)],
      [t("traces.status"), statusBadge(data.status)],
      [t("traces.http"), data.http_status],
      [t("traces.errorCode"), data.error_code || "—"],
      [t("usage.model"), data.model],
      [t("traces.provider"), data.provider || "—"],
      [t("traces.endpoint"), data.endpoint || "—"],
      [t("traces.keyPrefix"), h("code", null, data.key_prefix)],
      [t("traces.tokensInOut"), `${number(data.prompt_tokens, 0)} / ${number(data.completion_tokens, 0)}`],
      [t("usage.credits"), credits(data.credits)],
      [t("traces.latency"), `${number(data.latency_ms, 0)} ms`],
      [t("traces.upstream"), data.upstream_latency_ms == null ? "—" : `${number(data.upstream_latency_ms, 0)} ms`],
      [t("traces.ttft"), data.ttft_ms == null ? "—" : `${number(data.ttft_ms, 0)} ms`],
      [t("traces.stream"), data.stream ? t("common.yes") : t("common.no")],
      [t("traces.estimated"), data.usage_estimated ? t("common.yes") : t("common.no")],
    ];
    const attempts = data.attempts.map((attempt, index) => ({ index: index + 1, ...attempt }));
    add(main, 
      app().header(t("traces.detail", { id: data.trace_id }), h("a", { href: "#/traces", class: "button secondary" }, t("common.back"))),
      h("dl", { class: "facts" }, rows.map(([label, value]) => h("div", null, h("dt", null, label), h("dd", null, value)))),
      h("h2", null, t("traces.attempts")),
      attempts.length
        ? table(t("traces.attempts"), [
            { label: t("traces.attempt"), cell: (a) => a.index, numeric: true },
            { label: t("traces.provider"), cell: (a) => a.provider || "—" },
            { label: t("traces.channel"), cell: (a) => (a.channel ? h("code", null, a.channel) : "—") },
            { label: t("traces.http"), cell: (a) => a.http_status ?? "—", numeric: true },
            { label: t("traces.latency"), cell: (a) => (a.latency_ms == null ? "—" : `${number(a.latency_ms, 0)} ms`), numeric: true },
            { label: t("traces.errorCode"), cell: (a) => a.error_code || "—" },
          ], attempts, { hideCaption: true })
        : h("p", null, t("traces.none"))
    );
  }

  // The model and URL as string literals (Python takes JSON's), the curl body single-quoted for a shell
  const literal = (value) => JSON.stringify(value);
  const shellQuoted = (value) => `'${value.replaceAll("'", "'\\''")}'`;

  function snippets(base, model) {
    const body = JSON.stringify({ model, messages: [{ role: "user", content: "Say hi" }] });
    return {
      openai: `import os
from openai import OpenAI

client = OpenAI(base_url=${literal(`${base}/v1`)}, api_key=os.environ["GATEWAY_KEY"])
reply = client.chat.completions.create(
    model=${literal(model)},
    messages=[{"role": "user", "content": "Say hi"}],
)
print(reply.choices[0].message.content)
`,
      anthropic: `import os
import anthropic

client = anthropic.Anthropic(base_url=${literal(base)}, api_key=os.environ["GATEWAY_KEY"])
message = client.messages.create(
    model=${literal(model)},
    max_tokens=200,
    messages=[{"role": "user", "content": "Say hi"}],
)
print(message.content[0].text)
`,
      "google-genai": `import os
from google import genai
from google.genai import types

client = genai.Client(
    api_key=os.environ["GATEWAY_KEY"],
    http_options=types.HttpOptions(base_url=${literal(base)}),
)
print(client.models.generate_content(model=${literal(model)}, contents="Say hi").text)
`,
      curl: `curl ${shellQuoted(`${base}/v1/chat/completions`)} \\
  -H "Authorization: Bearer $GATEWAY_KEY" \\
  -H "Content-Type: application/json" \\
  -d ${shellQuoted(body)}
`,
    };
  }

  async function quickstart(main) {
    const catalog = await app().catalog();
    const base = api.baseUrl();
    const model = h("select", { id: "snippet-model" }, catalog.models.map((id) => h("option", { value: id }, id)));
    const names = ["openai", "anthropic", "google-genai", "curl"];
    const tabs = names.map((name, index) => h("button", { type: "button", role: "tab", id: `tab-${name}`, "aria-controls": `panel-${name}`, "aria-selected": index === 0 ? "true" : "false", tabindex: index === 0 ? 0 : -1 }, name));
    const panels = names.map((name, index) => h("div", { role: "tabpanel", id: `panel-${name}`, "aria-labelledby": `tab-${name}`, hidden: index !== 0, tabindex: 0 }));
    const fill = () => {
      const code = snippets(base, model.value || "MODEL");
      panels.forEach((panel, index) => {
        const text = code[names[index]];
        const button = h("button", { type: "button", class: "secondary small copy" }, t("common.copy"));
        button.addEventListener("click", () => copy(text, button));
        clear(panel).append(h("pre", { class: "code" }, h("code", null, text)), button);
      });
    };
    const select = (index) => {
      tabs.forEach((tab, i) => {
        tab.setAttribute("aria-selected", i === index ? "true" : "false");
        tab.tabIndex = i === index ? 0 : -1;
        panels[i].hidden = i !== index;
      });
      tabs[index].focus();
    };
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(index));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (step) select((index + step + tabs.length) % tabs.length);
        if (event.key === "Home") select(0);
        if (event.key === "End") select(tabs.length - 1);
      });
    });
    model.addEventListener("change", fill);
    const baseField = h("input", { id: "base-url", readonly: true, value: base, class: "secret" });
    const copyBase = h("button", { type: "button", class: "secondary" }, t("common.copy"));
    copyBase.addEventListener("click", () => copy(base, copyBase, baseField));
    add(main, 
      app().header(t("quick.title")),
      h("p", null, t("quick.text")),
      h("div", { class: "field" }, h("label", { for: "base-url" }, t("quick.base")), h("div", { class: "copy-row" }, baseField, copyBase)),
      field(t("usage.model"), model),
      h("div", { class: "tabs" }, h("div", { role: "tablist", "aria-label": t("quick.sdk") }, tabs), panels)
    );
    fill();
  }

  Object.assign(window.GW.pages, {
    overview: { nav: "nav.overview", render: overview },
    usage: { nav: "nav.usage", render: usage },
    traces: { nav: "nav.traces", render: traces },
    quickstart: { nav: "nav.quickstart", render: quickstart },
  });
})();
