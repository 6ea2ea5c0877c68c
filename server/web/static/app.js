// The web app: a hash router over its views (sign-in, violations, a violation, cameras, calibration, account).
// Plain ES modules, no build step.
import { api, logIn, signIn, signOut, token, user } from "./api.js";
import { h, say } from "./dom.js";
import { listView } from "./list.js";
import { violationView } from "./violation.js";
import { calibrateView, camerasView } from "./calibrate.js";
import { accountView } from "./account.js";

const main = document.getElementById("main");
let cleanup = () => {};

function signInError(err, what) {
  if (err.status === 401) return what === "password" ? "Wrong user name or password." : "That token is not valid. Check it, or ask an administrator for a new one.";
  if (err.status === 429) return `Too many failed sign-ins. ${err.message.replace(/^.*?: /, "").replace(/^t/, "T")}.`;
  return `Could not sign in: ${err.message}`;
}

// The sign-in page: user name and password first; an API token (scripts' credential) as a folded alternative.
function signInView() {
  const username = h("input", { id: "username", name: "username", autocomplete: "username", autocapitalize: "none",
    autocorrect: "off", spellcheck: "false", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password",
    required: true });
  const show = h("input", { type: "checkbox", id: "show-password",
    onchange: (e) => { password.type = e.target.checked ? "text" : "password"; } });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" });
  const submit = h("button", { type: "submit", class: "primary", text: "Sign in" });
  const form = h("form", { class: "card narrow sign-in", "aria-labelledby": "sign-in-title", id: "password-form" },
    h("h1", { id: "sign-in-title", text: "Sign in" }),
    h("label", { for: "username", text: "User name" }), username,
    h("label", { for: "password", text: "Password" }), password,
    h("label", { class: "check", for: "show-password" }, show, " Show password"),
    error, submit,
    h("p", { class: "hint", text: "Forgot your password? An administrator can set a new one." }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await logIn(username.value.trim(), password.value);
      location.hash = "#/violations";
    } catch (err) {
      error.textContent = signInError(err, "password");
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });

  const tokenInput = h("input", { id: "token", name: "token", type: "password", autocomplete: "off",
    required: true, "aria-describedby": "token-help" });
  const tokenError = h("p", { class: "error", role: "alert", id: "token-error" });
  const tokenForm = h("form", { id: "token-form" },
    h("label", { for: "token", text: "Access token" }), tokenInput,
    h("p", { id: "token-help", class: "hint", text: "An API token an administrator issued to you (POST /api/v1/users/{id}/tokens)." }),
    tokenError,
    h("button", { type: "submit", text: "Use token" }));
  tokenForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    tokenError.textContent = "";
    try {
      await signIn(tokenInput.value.trim());
      location.hash = "#/violations";
    } catch (err) {
      tokenError.textContent = signInError(err, "token");
      tokenInput.focus();
    }
  });
  const alternative = h("details", { class: "card narrow token-sign-in", id: "token-sign-in" },
    h("summary", { text: "Sign in with an API token instead" }), tokenForm);

  main.replaceChildren(form, alternative);
  username.focus();
  return () => {};
}

function showNav() {
  const me = user();
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").textContent = me ? `${me.name} (${me.role})` : "";
}

async function route() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash || "#/violations";
  showNav();
  if (!token() && hash !== "#/sign-in") { location.hash = "#/sign-in"; return; }
  const parts = hash.slice(2).split("?")[0].split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "sign-in") cleanup = signInView();
    else if (parts[0] === "violations" && parts[1]) cleanup = await violationView(main, Number(parts[1]));
    else if (parts[0] === "violations") cleanup = await listView(main);
    else if (parts[0] === "cameras" && parts[1] && parts[2]) cleanup = await calibrateView(main, parts[1], parts[2]);
    else if (parts[0] === "cameras") cleanup = await camerasView(main);
    else if (parts[0] === "account") cleanup = await accountView(main);
    else main.replaceChildren(h("p", { text: "No such page." }));
  } catch (err) {
    main.replaceChildren(h("p", { class: "error", role: "alert",
      text: err.status === 404 ? "Not found, or not in your sites." : err.status === 403 ? `Not allowed: ${err.message}` : `Error: ${err.message}` }));
  }
  // Move focus to the new page for screen readers, unless the view put it somewhere (the sign-in's first field).
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await signOut();
  say("Signed out.");
  location.hash = "#/sign-in";
});
window.addEventListener("hashchange", route);
route();
export { api };
