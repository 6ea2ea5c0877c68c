// Violations: filters, paging, recurrence badges, and new violations arriving live over the SSE feed.
import { api, subscribe } from "./api.js";
import { h, label, recurrencePlace, say, when } from "./dom.js";

const PAGE = 20;
const state = { filters: {}, offset: 0 };
const FIELDS = [
  ["type", "Type", "select", [["", "Any"], ["falling_object", "Falling object"], ["missing_chef_hat", "No chef hat"], ["uncovered_bin", "Uncovered bin"]]],
  ["status", "Status", "select", [["", "Any"], ["open", "Open"], ["confirmed", "Confirmed"], ["dismissed", "Dismissed"]]],
  ["site", "Site", "text"], ["building", "Building", "text"], ["floor", "Floor", "text"],
  ["since", "From", "date"], ["until", "To", "date"],
];

function query() {
  const q = { limit: PAGE, offset: state.offset };
  for (const [k, v] of Object.entries(state.filters)) {
    if (!v) continue;
    // Dates are whole local days: "to" includes its day.
    if (k === "since") q.since = new Date(`${v}T00:00:00`).toISOString();
    else if (k === "until") q.until = new Date(new Date(`${v}T00:00:00`).getTime() + 86400000).toISOString();
    else q[k] = v;
  }
  return q;
}

function matches(v) {
  const f = state.filters;
  for (const k of ["type", "status", "site", "building", "floor"]) if (f[k] && v[k] !== f[k]) return false;
  const t = new Date(v.first_seen).getTime();
  if (f.since && t < new Date(`${f.since}T00:00:00`).getTime()) return false;
  if (f.until && t >= new Date(`${f.until}T00:00:00`).getTime() + 86400000) return false;
  return true;
}

function recurring(v, alerts) {
  const place = recurrencePlace(v), t = new Date(v.first_seen).getTime();
  return alerts.find((a) => a.site === v.site && a.type === v.type && a.place === place
    && t >= new Date(a.first_seen).getTime() && t <= new Date(a.last_seen).getTime());
}

function row(v, alerts, fresh = false) {
  const alert = recurring(v, alerts);
  return h("li", { class: `violation sev-${v.severity}${fresh ? " fresh" : ""}`, "data-id": v.id },
    h("a", { href: `#/violations/${v.id}`, class: "row-link" },
      h("span", { class: "type", text: label(v.type) }),
      h("span", { class: "place", text: v.place }),
      h("span", { class: "time" }, h("time", { datetime: v.first_seen, text: when(v.first_seen) })),
      h("span", { class: "badges" },
        h("span", { class: `badge status-${v.status}`, text: v.status }),
        h("span", { class: `badge sev`, text: v.severity }),
        v.event_count > 1 ? h("span", { class: "badge", text: `${v.event_count} events` }) : null,
        alert ? h("span", { class: "badge recurring", title: `${alert.count} cases within ${Math.round(alert.period_s / 3600)} h at ${alert.place}`,
          text: `Recurring ×${alert.count}` }) : null,
        fresh ? h("span", { class: "badge new", text: "new" }) : null)));
}

export async function listView(main) {
  const form = h("form", { class: "filters", "aria-label": "Filter violations" });
  for (const [name, text, kind, options] of FIELDS) {
    const id = `f-${name}`;
    const input = kind === "select"
      ? h("select", { id, name }, options.map(([value, t]) => h("option", { value, text: t })))
      : h("input", { id, name, type: kind, inputmode: name === "floor" ? "numeric" : undefined });
    input.value = state.filters[name] || "";
    form.append(h("div", { class: "field" }, h("label", { for: id, text }), input));
  }
  form.append(h("div", { class: "field actions" },
    h("button", { type: "submit", class: "primary", text: "Apply" }),
    h("button", { type: "reset", text: "Clear" })));
  const list = h("ol", { class: "violations", id: "violations", "aria-live": "polite", "aria-relevant": "additions" });
  const count = h("p", { class: "count", id: "count" });
  const prev = h("button", { type: "button", text: "← Newer" });
  const next = h("button", { type: "button", text: "Older →" });
  const live = h("span", { class: "live", id: "live", text: "connecting…" });
  main.replaceChildren(
    h("div", { class: "title-row" }, h("h1", { text: "Violations" }), live),
    h("details", { class: "filter-box", open: window.innerWidth > 700 }, h("summary", { text: "Filters" }), form),
    count, list, h("nav", { class: "pager", "aria-label": "Pages" }, prev, next));

  let alerts = [];
  let total = 0;
  async function load() {
    const [page, al] = await Promise.all([api("/violations", { query: query() }), api("/alerts").catch(() => [])]);
    alerts = al;
    total = page.total;
    list.replaceChildren(...page.items.map((v) => row(v, alerts)));
    if (!page.items.length) list.append(h("li", { class: "empty", text: "No violations match these filters." }));
    const first = total ? state.offset + 1 : 0;
    count.textContent = `${first}–${state.offset + page.items.length} of ${total}`;
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + PAGE >= total;
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(form));
    state.offset = 0;
    load().catch((err) => say(`Could not load violations: ${err.message}`, "error"));
  });
  form.addEventListener("reset", () => setTimeout(() => form.requestSubmit(), 0));
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
  next.addEventListener("click", () => { state.offset += PAGE; load(); });
  await load();

  const feed = subscribe("/live", async (type, v) => {
    if (type !== "violation" || !matches(v)) return;
    total += 1;
    if (state.offset > 0) { count.textContent = `${total} in all — new ones on the first page`; return; }
    if (v.event_type === "falling_object") alerts = await api("/alerts").catch(() => alerts);
    list.querySelector(".empty")?.remove();
    list.prepend(row(v, alerts, true));
    while (list.children.length > PAGE) list.lastElementChild.remove();
    count.textContent = `1–${list.children.length} of ${total}`;
    say(`New violation: ${label(v.type)} at ${v.place}`);
  }, (s) => { live.textContent = s === "live" ? "● live" : s; live.dataset.state = s; });
  return () => feed.abort();
}
