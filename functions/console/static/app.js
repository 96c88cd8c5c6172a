/* The shell: sign-up, confirmation and sign-in screens; then the header (language, theme, sign out), the
   navigation and the page named by the address (#/page/arg?filters). */
"use strict";
(function () {
  const { t, set: setLanguage } = window.GW.i18n;
  const { h, add, field, clear, toast, alertBox } = window.GW.dom;
  const api = window.GW.api;
  const pages = window.GW.pages;
  const root = () => document.getElementById("app");
  const THEMES = ["auto", "light", "dark"];
  let me = null;
  let catalogCache = null;

  function applyTheme(theme) {
    document.documentElement.dataset.theme = THEMES.includes(theme) ? theme : "auto";
  }

  function route() {
    const raw = window.location.hash.replace(/^#\/?/, "");
    const [path, search] = raw.split("?");
    let parts;
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (_error) {
      return { page: "overview", arg: "", params: {} }; // a link cut in an escape (%E0%A4%A)
    }
    let page = parts[0] || "overview";
    let rest = parts.slice(1);
    if (page === "admin" && parts[1]) {
      page = `admin/${parts[1]}`;
      rest = parts.slice(2);
    }
    return { page, arg: rest.join("/"), params: Object.fromEntries(new URLSearchParams(search || "")) };
  }

  function go(page, arg, params) {
    const search = new URLSearchParams(params || {}).toString();
    const target = `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ""}${search ? `?${search}` : ""}`;
    if (window.location.hash === target) refresh();
    else window.location.hash = target;
  }

  function message(error) {
    if (error instanceof api.ApiError) {
      if (error.code === "network") return t("err.network");
      const known = t(`err.${error.code}`);
      if (known !== `err.${error.code}`) return known;
      return t("err.generic", { message: error.message || error.code });
    }
    return t("err.generic", { message: String(error && error.message ? error.message : error) });
  }

  /** The session ended (its refresh refused, revoked, expired): the sign-in screen says so. */
  function ended() {
    return api.signOut().finally(() => start(t("err.session")));
  }

  function fail(error) {
    if (error instanceof api.ApiError && error.status === 401) {
      ended();
      return;
    }
    toast(message(error), "error");
  }

  function header(title, ...actions) {
    return h("div", { class: "page-header" }, h("h1", { tabindex: -1, id: "page-title" }, title), actions.length ? h("div", { class: "page-actions" }, actions) : null);
  }

  async function loadMe(fresh) {
    if (fresh || !me) me = await api.get("me");
    return me;
  }

  async function catalog() {
    if (!catalogCache) catalogCache = await api.get("catalog");
    return catalogCache;
  }

  function toolbar(extra) {
    const language = h("button", { type: "button", class: "ghost", lang: t("app.language") === "中文" ? "zh-CN" : "en", "aria-label": t("app.languageLabel"), id: "language" }, t("app.language"));
    language.addEventListener("click", () => {
      setLanguage(window.GW.i18n.lang === "zh" ? "en" : "zh");
      document.title = t("app.title");
      start();
    });
    const current = localStorage.getItem("gw.theme") || "auto";
    const theme = h("button", { type: "button", class: "ghost", id: "theme" }, t(`app.theme.${current}`));
    theme.addEventListener("click", () => {
      const next = THEMES[(THEMES.indexOf(localStorage.getItem("gw.theme") || "auto") + 1) % THEMES.length];
      localStorage.setItem("gw.theme", next);
      applyTheme(next);
      theme.textContent = t(`app.theme.${next}`);
    });
    return h("div", { class: "toolbar-buttons" }, language, theme, extra);
  }

  /* Signed out: sign in, sign up, confirm the e-mail, and a forgotten password (a code sent to the
     account's verified e-mail, then the code and a new password). */
  function authScreen(mode, email, notice) {
    const config = api.config;
    const box = h("main", { class: "auth", id: "main", tabindex: -1 });
    const error = h("div", { class: "form-error", role: "alert" });
    const choosing = mode === "signUp" || mode === "reset"; // a new password
    const emailInput = h("input", { type: "email", name: "email", required: true, autocomplete: "username", value: email || "", id: "auth-email" });
    const passwordInput = h("input", { type: "password", name: "password", required: true, minlength: choosing ? 10 : null, autocomplete: choosing ? "new-password" : "current-password", id: "auth-password" });
    const codeInput = h("input", { name: "code", required: true, inputmode: "numeric", autocomplete: "one-time-code", maxlength: 10, id: "auth-code" });
    const submit = h("button", { type: "submit", class: "primary", id: "auth-submit" });
    const form = h("form", { class: "form" });
    const switchTo = (next) => () => render(authScreen(next, emailInput.value));
    const link = (next, words, id) => h("button", { type: "button", class: "link", id, onclick: switchTo(next) }, words);
    const resendWith = (send) => {
      const resend = h("button", { type: "button", class: "link", id: "auth-resend" }, t("auth.resend"));
      resend.addEventListener("click", () => send(email).then(() => toast(t("auth.resent")), (e) => (error.textContent = message(e))));
      return resend;
    };
    let title;
    if (mode === "confirm") {
      title = t("auth.confirmTitle");
      submit.textContent = t("auth.submitConfirm");
      add(form, h("p", null, t("auth.confirmText", { email })), field(t("auth.code"), codeInput), error, submit, resendWith(api.resend));
    } else if (mode === "forgot") {
      title = t("auth.forgotTitle");
      submit.textContent = t("auth.submitForgot");
      add(form, h("p", null, t("auth.forgotText")), field(t("auth.email"), emailInput), error, submit, link("signIn", t("auth.backToSignIn"), "to-sign-in"));
    } else if (mode === "reset") {
      title = t("auth.resetTitle");
      submit.textContent = t("auth.submitReset");
      add(form, h("p", null, t("auth.resetText", { email })),
        field(t("auth.code"), codeInput),
        field(t("auth.newPassword"), passwordInput, t("auth.passwordHint")),
        error, submit, resendWith(api.forgotPassword), link("signIn", t("auth.backToSignIn"), "to-sign-in"));
    } else {
      title = mode === "signUp" ? t("auth.signUp") : t("auth.signIn");
      submit.textContent = mode === "signUp" ? t("auth.submitSignUp") : t("auth.submitSignIn");
      add(form,
        notice ? h("p", { class: "notice", role: "status" }, notice) : null,
        field(t("auth.email"), emailInput),
        field(t("auth.password"), passwordInput, mode === "signUp" ? t("auth.passwordHint") : null),
        error,
        submit
      );
      if (mode === "signUp") add(form, link("signIn", t("auth.toSignIn")));
      else {
        add(form, link("forgot", t("auth.forgot"), "to-forgot"));
        if (config.self_sign_up) add(form, link("signUp", t("auth.toSignUp"), "to-sign-up"));
        else add(form, h("p", { class: "hint" }, t("auth.noSignUp")));
      }
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      const address = (emailInput.value || email || "").trim();
      try {
        if (mode === "signUp") {
          await api.signUp(address, passwordInput.value);
          render(authScreen("confirm", address));
          return;
        }
        if (mode === "confirm") {
          await api.confirm(address, codeInput.value.trim());
          render(authScreen("signIn", address, t("auth.confirmed")));
          return;
        }
        if (mode === "forgot") {
          await api.forgotPassword(address);
          render(authScreen("reset", address));
          return;
        }
        if (mode === "reset") {
          await api.resetPassword(address, codeInput.value.trim(), passwordInput.value);
          render(authScreen("signIn", address, t("auth.passwordChanged")));
          return;
        }
        await api.signIn(address, passwordInput.value);
        start();
      } catch (failure) {
        if (failure.code === "UserNotConfirmedException") {
          render(authScreen("confirm", address));
          return;
        }
        // Cognito's answer to a reset for an account whose e-mail was never confirmed
        error.textContent = mode === "forgot" && failure.code === "InvalidParameterException" ? t("auth.cannotReset") : message(failure);
        submit.disabled = false;
      }
    });
    const starting = config.starting_credits ? h("p", { class: "hint" }, t("auth.startingCredits", { credits: config.starting_credits })) : null;
    add(box, 
      h("div", { class: "auth-card" },
        h("p", { class: "brand" }, t("app.title")),
        h("p", { class: "tagline" }, t("auth.intro")),
        mode === "signUp" ? starting : null,
        h("h1", { tabindex: -1, id: "page-title" }, title),
        form),
      toolbar()
    );
    return box;
  }

  function render(screen) {
    clear(root()).append(screen);
    root().removeAttribute("aria-busy");
    const focus = screen.querySelector("h1");
    if (focus) focus.focus();
  }

  /* Signed in: header, navigation, page. */
  function navigation(current) {
    const item = (page) =>
      h("li", null, h("a", { href: `#/${page}`, "aria-current": current === page ? "page" : null, "data-page": page }, t(pages[page].nav)));
    const customer = ["overview", "keys", "usage", "traces", "quickstart"];
    const operator = Object.keys(pages).filter((page) => pages[page].operator).sort((a, b) => (pages[a].order || 0) - (pages[b].order || 0));
    return h(
      "nav",
      { class: "nav", id: "nav", "aria-label": t("nav.label") },
      h("div", { class: "nav-inner" },
        h("ul", null, customer.map(item)),
        me.user.operator ? [h("p", { class: "nav-group", id: "nav-operators" }, t("nav.operators")), h("ul", { "aria-labelledby": "nav-operators" }, operator.map(item))] : null)
    );
  }

  let shown = null; // the address on screen: another one starts at the top (a refresh stays where it was)

  async function show() {
    const { page, arg, params } = route();
    // A refresh after a row's switch (a code, a channel, a model) gives the focus back to that row's switch
    const active = document.activeElement;
    const keep = shown === window.location.hash && active && active.dataset ? active.dataset.focusKey : undefined;
    if (shown !== window.location.hash) {
      window.scrollTo(0, 0);
      if (shown !== null) clear(document.getElementById("toasts")); // they told of the page left behind
    }
    shown = window.location.hash;
    const entry = pages[page] && (!pages[page].operator || me.user.operator) ? pages[page] : pages.overview;
    const current = pages[page] === entry ? page : "overview";
    const main = h("main", { class: "main", id: "main", tabindex: -1, "aria-busy": "true" });
    const menu = h("button", { type: "button", class: "ghost menu", "aria-expanded": "false", "aria-controls": "nav" }, t("app.menu"));
    const signOut = h("button", { type: "button", class: "ghost", id: "sign-out" }, t("app.signOut"));
    signOut.addEventListener("click", () => api.signOut().finally(start));
    const nav = navigation(current);
    menu.addEventListener("click", () => {
      const open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
      if (open) window.scrollTo(0, 0);  // the navigation opens at the top of the page: show it there
    });
    const skip = h("a", { class: "skip", href: "#main" }, t("app.skip"));
    skip.addEventListener("click", (event) => {
      event.preventDefault();
      main.focus();
    });
    clear(root()).append(
      skip,
      h("header", { class: "top" }, menu, h("a", { class: "brand", href: "#/overview" }, t("app.title")),
        h("span", { class: "who", id: "who" }, me.user.email), toolbar(signOut)),
      h("div", { class: "layout" }, nav, main)
    );
    root().removeAttribute("aria-busy");
    document.title = `${t(entry.nav)} · ${t("app.title")}`;
    try {
      await entry.render(main, arg, params);
    } catch (error) {
      add(main, alertBox(message(error)));
      if (error instanceof api.ApiError && error.status === 401) fail(error);
    }
    main.removeAttribute("aria-busy");
    const again = keep ? [...main.querySelectorAll("[data-focus-key]")].find((node) => node.dataset.focusKey === keep) : null;
    const title = main.querySelector("h1");
    if (again) again.focus({ preventScroll: true });
    else if (title) title.focus({ preventScroll: true });
  }

  function refresh() {
    if (api.signedIn && me) show().catch(fail);
  }

  async function begin(notice) {
    document.title = t("app.title");
    root().setAttribute("aria-busy", "true");
    try {
      if (!api.config) await api.loadConfig();
    } catch (error) {
      render(h("main", { class: "auth", id: "main" }, alertBox(error.status === 503 ? t("app.noPool") : message(error))));
      return;
    }
    if (!api.signedIn) {
      me = null;
      catalogCache = null;
      clear(document.getElementById("toasts")); // nothing of the last session stays on screen
      render(authScreen("signIn", "", notice));
      return;
    }
    try {
      await loadMe(true);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) {
        await ended();
        return;
      }
      render(h("main", { class: "auth", id: "main" }, alertBox(message(error))));
      return;
    }
    await show();
  }

  /** The console from the start (signed out: the sign-in screen, with `notice`); what fails on the way is
      said, never left as "Loading…". */
  function start(notice) {
    return begin(notice).catch((error) => render(h("main", { class: "auth", id: "main" }, alertBox(message(error)))));
  }

  window.GW.app = { go, refresh, fail, message, header, me: loadMe, catalog };
  applyTheme(localStorage.getItem("gw.theme"));
  window.addEventListener("hashchange", () => {
    if (window.location.hash !== "#main") refresh();
  });
  start();
})();
