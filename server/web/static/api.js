// The REST API (/api/v1) with the bearer token kept for this browser tab, plus the /web session routes.
// The token is a session token from a password sign-in (POST /api/v1/auth/login), or an API token an admin issued;
// either is used the same way: `Authorization: Bearer` to /api/v1, and traded once for the /web media cookie.

const TOKEN_KEY = "edgewatch.token";
const USER_KEY = "edgewatch.user";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function user() {
  const raw = sessionStorage.getItem(USER_KEY);
  return raw ? JSON.parse(raw) : null;
}

async function failure(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail
      : Array.isArray(body.detail) ? body.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ")
      : detail;
  } catch { /* not JSON */ }
  return new ApiError(response.status, detail);
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    // Expired, revoked (signed out elsewhere, password reset) or unknown: back to the sign-in form.
    forget();
    location.hash = "#/sign-in";
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export async function signIn(tokenText) {
  const response = await fetch("/web/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: tokenText }),
  });
  if (!response.ok) throw await failure(response);
  const me = await response.json();
  sessionStorage.setItem(TOKEN_KEY, tokenText);
  sessionStorage.setItem(USER_KEY, JSON.stringify(me));
  return me;
}

// Password sign-in: a session token that expires (server auth.session_hours), then the same steps as a token.
export async function logIn(username, password) {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw await failure(response);
  const session = await response.json();
  return signIn(session.token);
}

// Change one's own password: the server signs out every session of the user and answers a new one, used from now on.
export async function changePassword(currentPassword, newPassword) {
  const session = await api("/auth/password", { method: "POST",
    body: { current_password: currentPassword, new_password: newPassword } });
  return signIn(session.token);
}

export function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

// Revokes a session token on the server (an admin-issued API token stays valid), then drops the media cookie.
export async function signOut() {
  const current = token();
  forget();
  if (current) {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${current}` } }).catch(() => {});
  }
  await fetch("/web/session", { method: "DELETE" });
}

export async function web(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// Server-Sent Events over fetch (EventSource cannot send the bearer header). Calls onEvent(type, data, id) until
// the returned AbortController is aborted; reconnects after a drop, resuming after the last id.
export function subscribe(path, onEvent, onState = () => {}) {
  const controller = new AbortController();
  let lastId = null;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(`/api/v1${path}`, { headers, signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, response.statusText);
        onState("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let type = "message", data = "", id = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) type = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trim();
              else if (line.startsWith("id:")) id = line.slice(3).trim();
            }
            if (id) lastId = id;
            if (data) onEvent(type, JSON.parse(data), id);
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) { onState("signed-out"); return; }
      }
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return controller;
}
