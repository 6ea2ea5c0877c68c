// Your account: who you are, and changing your own password (every other sign-in of yours is signed out).
import { api, changePassword } from "./api.js";
import { h, say } from "./dom.js";

export async function accountView(main) {
  const me = await api("/me");
  const current = h("input", { id: "current-password", type: "password", autocomplete: "current-password", required: true });
  const fresh = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true,
    minlength: 8, "aria-describedby": "new-password-help" });
  const again = h("input", { id: "repeat-password", type: "password", autocomplete: "new-password", required: true });
  const error = h("p", { class: "error", role: "alert", id: "password-error" });
  const submit = h("button", { type: "submit", class: "primary", text: "Change password" });
  const form = h("form", { class: "card narrow", id: "password-change", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title", text: "Change password" }),
    h("label", { for: "current-password", text: "Current password" }), current,
    h("label", { for: "new-password", text: "New password" }), fresh,
    h("p", { class: "hint", id: "new-password-help", text: "At least 8 characters; a few unrelated words are easy to type on a phone and hard to guess." }),
    h("label", { for: "repeat-password", text: "New password again" }), again,
    error, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (fresh.value !== again.value) { error.textContent = "The new passwords differ."; again.focus(); return; }
    submit.disabled = true;
    try {
      await changePassword(current.value, fresh.value);
      form.reset();
      say("Password changed. Your other sign-ins were signed out.");
    } catch (err) {
      error.textContent = err.status === 403 ? "The current password is wrong."
        : err.status === 429 ? `Too many failed tries. ${err.message.replace(/^.*?: /, "").replace(/^t/, "T")}.`
        : `Could not change it: ${err.message}`;
      (err.status === 422 ? fresh : current).focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(
    h("section", { class: "card narrow", "aria-labelledby": "account-title" },
      h("h1", { id: "account-title", text: "Your account" }),
      h("dl", { class: "account" },
        h("dt", { text: "User name" }), h("dd", { id: "account-name", text: me.name }),
        h("dt", { text: "Role" }), h("dd", { text: me.role }),
        h("dt", { text: "Sites" }), h("dd", { text: me.role === "admin" ? "all" : (me.sites.join(", ") || "none") }))),
    me.has_password ? form
      : h("p", { class: "card narrow hint", text: "You have no password yet (you signed in with an API token): an administrator can set one." }));
  return () => {};
}
