/* Signing in with Cognito (the browser talks to the user pool directly; the console never sees a
   password) and calling the console's API with the ID token. Tokens live in this tab's
   sessionStorage only, are sent only in the Authorization header, and never in a URL. */
"use strict";
(function () {
  const STORE = "gw.session";
  const REFRESH_MARGIN_MS = 120000;
  let config = null;
  let session = null;

  class ApiError extends Error {
    constructor(status, code, message, param) {
      super(message);
      this.status = status;
      this.code = code;
      this.param = param || null; // the field a 400 names (pricing.input, providers.0.model, ...)
    }
  }

  function load() {
    try {
      session = JSON.parse(sessionStorage.getItem(STORE) || "null");
    } catch (_error) {
      session = null;
    }
  }

  function save(next) {
    session = next;
    if (next) sessionStorage.setItem(STORE, JSON.stringify(next));
    else sessionStorage.removeItem(STORE);
  }

  /** The expiry (ms) a JWT states; its payload is read, never trusted for anything else here. */
  function expiry(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).exp * 1000;
    } catch (_error) {
      return 0;
    }
  }

  async function loadConfig() {
    const response = await fetch("console/api/config", { credentials: "omit" });
    if (!response.ok) throw await failure(response);
    config = await response.json();
    return config;
  }

  async function cognito(action, body) {
    let response;
    try {
      response = await fetch(`${config.cognito.endpoint}/`, {
        method: "POST",
        credentials: "omit",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
        },
        body: JSON.stringify({ ClientId: config.cognito.client_id, ...body }),
      });
    } catch (_error) {
      throw new ApiError(0, "network", "");
    }
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = String(payload.__type || "").split("#").pop() || `HTTP${response.status}`;
      throw new ApiError(response.status, code, payload.message || payload.Message || code);
    }
    return payload;
  }

  function signUp(email, password) {
    return cognito("SignUp", { Username: email, Password: password, UserAttributes: [{ Name: "email", Value: email }] });
  }

  function confirm(email, code) {
    return cognito("ConfirmSignUp", { Username: email, ConfirmationCode: code });
  }

  function resend(email) {
    return cognito("ResendConfirmationCode", { Username: email });
  }

  /** A code to the account's verified e-mail (the pool answers the same for an unknown one). */
  function forgotPassword(email) {
    return cognito("ForgotPassword", { Username: email });
  }

  function resetPassword(email, code, password) {
    return cognito("ConfirmForgotPassword", { Username: email, ConfirmationCode: code, Password: password });
  }

  async function signIn(email, password) {
    const answer = await cognito("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    const result = answer.AuthenticationResult;
    if (!result) throw new ApiError(400, "ChallengeNotSupported", answer.ChallengeName || "challenge");
    save({ idToken: result.IdToken, refreshToken: result.RefreshToken, email });
  }

  /** A new ID token from the refresh token; a refused one (revoked, expired: Cognito's 400) ends the
      session (401 "session"), while a network failure or a fault of Cognito's may be retried. */
  async function refresh() {
    if (!session || !session.refreshToken) throw new ApiError(401, "session", "");
    let answer;
    try {
      answer = await cognito("InitiateAuth", {
        AuthFlow: "REFRESH_TOKEN_AUTH",
        AuthParameters: { REFRESH_TOKEN: session.refreshToken },
      });
    } catch (error) {
      if (error.status === 0 || error.status >= 500) throw error;
      throw new ApiError(401, "session", "");
    }
    const result = answer.AuthenticationResult;
    if (!result || !result.IdToken) throw new ApiError(401, "session", "");
    save({ ...session, idToken: result.IdToken });
  }

  async function signOut() {
    const token = session && session.refreshToken;
    save(null);
    if (token) await cognito("RevokeToken", { Token: token }).catch(() => undefined);
  }

  async function failure(response) {
    const payload = await response.json().catch(() => ({}));
    const error = payload.error || {};
    return new ApiError(response.status, error.code || `HTTP${response.status}`, error.message || response.statusText, error.param);
  }

  /** A call to the console's API; the token is refreshed when it nears its end (a refused refresh ends
      the session; an unreachable Cognito leaves the token to its end) or was refused as expired. */
  async function call(method, path, body, headers) {
    if (!session) throw new ApiError(401, "session", "");
    if (expiry(session.idToken) - Date.now() < REFRESH_MARGIN_MS) {
      await refresh().catch((error) => {
        if (error.status === 401) throw error;
      });
    }
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let response;
      try {
        response = await fetch(`console/api/${path}`, {
          method,
          credentials: "omit",
          cache: "no-store",
          headers: {
            Authorization: `Bearer ${session.idToken}`,
            ...(body ? { "Content-Type": "application/json" } : {}),
            ...(headers || {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (_error) {
        throw new ApiError(0, "network", "");
      }
      if (response.ok) return response.json();
      const error = await failure(response);
      if (response.status === 401 && attempt === 0 && error.code === "session_expired") {
        await refresh();
        continue;
      }
      throw error;
    }
    throw new ApiError(401, "session", "");
  }

  /** Query string of the set values only. */
  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(name, value);
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  /** The gateway's base URL: the console is served at <base>/console. */
  function baseUrl() {
    return new URL(".", window.location.href).href.replace(/\/$/, "");
  }

  load();
  window.GW.api = {
    ApiError,
    loadConfig,
    get config() {
      return config;
    },
    get signedIn() {
      return Boolean(session && session.idToken);
    },
    signUp,
    confirm,
    resend,
    forgotPassword,
    resetPassword,
    signIn,
    signOut,
    call,
    get: (path, params) => call("GET", path + query(params || {})),
    post: (path, body, headers) => call("POST", path, body, headers),
    patch: (path, body, headers) => call("PATCH", path, body, headers),
    put: (path, body, headers) => call("PUT", path, body, headers),
    del: (path) => call("DELETE", path),
    baseUrl,
  };
})();
