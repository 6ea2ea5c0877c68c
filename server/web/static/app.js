// The web app: a hash router over four views. Plain ES modules, no build step.
import { api, signIn, signOut, token, user } from "./api.js";
import { h, say } from "./dom.js";
import { listView } from "./list.js";
import { violationView } from "./violation.js";
import { calibrateView, camerasView } from "./calibrate.js";

const main = document.getElementById("main");
let cleanup = () => {};

function signInView() {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password",
    required: true, "aria-describedby": "token-help" });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title", text: "Sign in" }),
    h("label", { for: "token", text: "Access token" }), input,
    h("p", { id: "token-help", class: "hint", text: "The token an administrator issued to you (edgewatch server: POST /api/v1/users)." }),
    error,
    h("button", { type: "submit", class: "primary", text: "Sign in" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await signIn(input.value.trim());
      location.hash = "#/violations";
    } catch (err) {
      error.textContent = err.status === 401 ? "That token is not valid. Check it, or ask an administrator for a new one."
        : `Could not sign in: ${err.message}`;
      input.focus();
    }
  });
  main.replaceChildren(form);
  input.focus();
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
    else main.replaceChildren(h("p", { text: "No such page." }));
  } catch (err) {
    main.replaceChildren(h("p", { class: "error", role: "alert",
      text: err.status === 404 ? "Not found, or not in your sites." : err.status === 403 ? `Not allowed: ${err.message}` : `Error: ${err.message}` }));
  }
  main.focus({ preventScroll: true });
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await signOut();
  say("Signed out.");
  location.hash = "#/sign-in";
});
window.addEventListener("hashchange", route);
route();
export { api };
