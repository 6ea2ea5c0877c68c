// Small DOM helpers: elements are built, never parsed from strings, so data from the server is never HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

let statusTimer = null;
export function say(message, kind = "info") {
  const box = document.getElementById("status");
  box.textContent = message;
  box.dataset.kind = kind;
  clearTimeout(statusTimer);
  if (message) statusTimer = setTimeout(() => { box.textContent = ""; }, 6000);
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export const LABELS = {
  falling_object: "Falling object", missing_chef_hat: "No chef hat", uncovered_bin: "Uncovered bin",
};
export function label(type) { return LABELS[type] || type; }

// The place recurrence alerts are counted at (server/tagging.py: recurrence_place).
export function recurrencePlace(v) {
  if (v.event_type === "falling_object") return `${v.building || `camera ${v.camera_id}`}, column ${v.column || "?"}`;
  return v.restaurant || v.building || `camera ${v.camera_id}`;
}
