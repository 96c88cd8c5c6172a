/* Building the page without markup strings: every node is made with DOM APIs and every text is set as
   text, so nothing a server or a user wrote can run (the page's CSP enforces Trusted Types too). */
"use strict";
(function () {
  const { t, locale } = window.GW.i18n;
  const SVG = "http://www.w3.org/2000/svg";

  function apply(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "value" && "value" in node) node.value = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Append children (nodes, text, arrays; null and false are skipped, unlike Node.append). */
  function add(node, ...children) {
    return append(node, children);
  }

  /** h("button", {class: "primary", onclick: fn}, "Save") */
  function h(tag, attrs, ...children) {
    return append(apply(document.createElement(tag), attrs), children);
  }

  function svg(tag, attrs, ...children) {
    return append(apply(document.createElementNS(SVG, tag), attrs), children);
  }

  function clear(node) {
    while (node.firstChild) node.firstChild.remove();
    return node;
  }

  let ids = 0;
  function uid(prefix) {
    ids += 1;
    return `${prefix || "f"}-${ids}`;
  }

  /** A labelled form field: {label, hint, input} with the input described by its hint. */
  function field(label, input, hint) {
    const id = input.id || uid("field");
    input.id = id;
    const hintNode = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
    if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
    return h("div", { class: "field" }, h("label", { for: id }, label), input, hintNode);
  }

  function number(value, digits) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits ?? 6 }).format(value ?? 0);
  }

  function credits(value) {
    return number(value, 6);
  }

  /** A moment in UTC, saying so: the days of the filters and charts are UTC days (the ledger's). */
  function dateTime(iso) {
    if (!iso) return "—";
    const time = new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(new Date(iso));
    return t("common.utc", { time });
  }

  function day(iso) {
    return new Intl.DateTimeFormat(locale(), { month: "short", day: "numeric", timeZone: "UTC" }).format(
      new Date(`${iso}T00:00:00Z`)
    );
  }

  /** YYYY-MM-DD (UTC) `offset` days from today. */
  function isoDay(offset) {
    const moment = new Date(Date.now() + (offset || 0) * 86400000);
    return moment.toISOString().slice(0, 10);
  }

  /** A table: columns [{label, cell(row) -> node|text, numeric}], in a scrollable, focusable region. */
  function table(caption, columns, rows, options) {
    const head = h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)));
    const body = rows.map((row) =>
      h("tr", null, columns.map((c, index) => {
        const content = c.cell(row);
        return index === 0 && options && options.rowHeader
          ? h("th", { scope: "row", class: c.numeric ? "num" : null }, content)
          : h("td", { class: c.numeric ? "num" : null }, content);
      }))
    );
    const element = h(
      "table",
      null,
      h("caption", { class: options && options.hideCaption ? "visually-hidden" : null }, caption),
      h("thead", null, head),
      h("tbody", null, body.length ? body : h("tr", null, h("td", { colspan: columns.length, class: "empty" }, t("common.empty"))))
    );
    return h("div", { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 }, element);
  }

  function toast(message, kind) {
    const area = document.getElementById("toasts");
    const item = h("div", { class: ["toast", kind === "error" ? "toast-error" : null] }, message);
    while (area.children.length >= 2) area.firstChild.remove(); // the newest two: the page stays readable
    area.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  function alertBox(message) {
    return h("div", { class: "alert", role: "alert" }, message);
  }

  /** Copy text; the button says whether it worked (clipboard API, else the selection). */
  async function copy(text, button, source) {
    let done = false;
    try {
      await navigator.clipboard.writeText(text);
      done = true;
    } catch (_error) {
      if (source && source.select) {
        source.select();
        done = document.execCommand("copy");
      }
    }
    const label = button.textContent;
    button.textContent = done ? t("common.copied") : t("common.copyFailed");
    button.dataset.copied = done ? "true" : "false";
    setTimeout(() => {
      button.textContent = label;
    }, 2500);
    return done;
  }

  /** A modal dialog (<dialog>: focus kept inside, Escape closes it); resolves with the value passed to close. */
  function modal(title, build) {
    return new Promise((resolve) => {
      const titleId = uid("dialog");
      const dialog = h("dialog", { class: "modal", "aria-labelledby": titleId });
      const opener = document.activeElement;
      const close = (value) => {
        dialog.close();
        dialog.remove();
        if (opener && opener.isConnected && opener.focus) opener.focus();
        resolve(value);
      };
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        close(undefined);
      });
      append(dialog, [h("h2", { id: titleId }, title), build(close)]);
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  function confirmDialog(title, text, action, danger) {
    return modal(title, (close) =>
      h(
        "div",
        null,
        h("p", null, text),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => close(false) }, t("common.cancel")),
          h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => close(true) }, action)
        )
      )
    );
  }

  function badge(text, kind) {
    return h("span", { class: ["badge", kind ? `badge-${kind}` : null] }, text);
  }

  /** An amount of credits with its unit, the unit set smaller. */
  function amount(value) {
    return [credits(value), h("span", { class: "unit" }, ` ${t("common.credits")}`)];
  }

  function card(label, value, detail) {
    return h("div", { class: "card" }, h("p", { class: "card-label" }, label), h("p", { class: "card-value" }, value), detail ? h("p", { class: "card-detail" }, detail) : null);
  }

  window.GW.pages = window.GW.pages || {};
  window.GW.dom = { h, add, amount, svg, clear, uid, field, number, credits, dateTime, day, isoDay, table, toast, alertBox, copy, modal, confirmDialog, badge, card };
})();
