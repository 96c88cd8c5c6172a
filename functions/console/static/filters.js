/* Filter forms whose values go into the page's address (#/page?name=value). Their From and To are UTC
   days, as the API's are, checked here before anything is asked; a range the API refuses all the same
   (an address typed or bookmarked) is said under the filters, which stay on the page to correct it. */
"use strict";
(function () {
  const { t } = window.GW.i18n;
  const { h, add, field, isoDay, alertBox } = window.GW.dom;
  const api = window.GW.api;
  const app = () => window.GW.app;
  const DAY_MS = 86400000;
  const MAX_DAYS = 366; // the API's longest range (the platform's totals: 93)

  /** What is wrong with a From/To pair of YYYY-MM-DD days, or "" (an empty one is the API's default). */
  function rangeError(from, to, maxDays) {
    if (!from || !to) return "";
    if (from > to) return t("filters.fromAfterTo");
    const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
    return days > maxDays ? t("filters.tooLong", { days: maxDays }) : "";
  }

  function dateInputs(params) {
    return [
      field(t("common.from"), h("input", { type: "date", name: "date_from", value: params.date_from || isoDay(-29) })),
      field(t("common.to"), h("input", { type: "date", name: "date_to", value: params.date_to || isoDay(0) })),
    ];
  }

  function select(name, label, values, current, anyLabel, labelOf) {
    return field(label, h("select", { name },
      h("option", { value: "" }, anyLabel || t("common.all")),
      values.map((value) => h("option", { value, selected: value === current }, labelOf ? labelOf(value) : value))));
  }

  /** The form: Apply puts its set values in the address, once its range is one the API takes. */
  function filterForm(page, controls, maxDays) {
    const error = h("p", { class: "form-error", role: "alert", id: "filter-error" });
    const form = h("form", { class: "filters", role: "search" }, controls, h("button", { type: "submit", class: "primary" }, t("common.apply")), error);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { date_from: from, date_to: to } = form.elements;
      const wrong = from && to ? rangeError(from.value, to.value, maxDays || MAX_DAYS) : "";
      error.textContent = wrong;
      if (from) from.toggleAttribute("aria-invalid", Boolean(wrong));
      if (wrong) {
        from.setAttribute("aria-describedby", error.id);
        from.focus();
        return;
      }
      const values = {};
      for (const control of form.elements) if (control.name && control.value) values[control.name] = control.value;
      app().go(page, "", values);
    });
    return form;
  }

  /** The page's data for its filters, or null with the refusal added to `main` under them (a 401 still
      ends the session). */
  async function fetched(main, request) {
    try {
      return await request;
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) throw error;
      const words = error instanceof api.ApiError && error.status === 400 ? t("filters.refused", { message: error.message }) : app().message(error);
      add(main, alertBox(words));
      return null;
    }
  }

  window.GW.filters = { dateInputs, select, filterForm, fetched, rangeError };
})();
