// One violation: evidence clip with the track or boxes drawn over it in sync, snapshot, clip integrity, the
// facade grid with the release cell, review actions and the audit trail, and the case archive.
import { api, user, web } from "./api.js";
import { h, label, say, when } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PRE_ROLL_S = 3; // edge default (camera pre_roll_s), used only when the event carries no overlay

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

// Track points as clip time: the edge's overlay gives them relative to the clip; otherwise the clip is assumed to
// start PRE_ROLL_S before the event (clips are cut from the keyframe before start - pre_roll).
function clipTrack(payload) {
  if (payload.overlay?.track?.length) return payload.overlay.track.map((p) => ({ t: p.t, u: p.u, v: p.v }));
  const start = payload.overlay?.clip_start_media_s ?? Math.max(0, (payload.start ?? 0) - PRE_ROLL_S);
  return (payload.track || []).map((p) => ({ t: p.t - start, u: p.u, v: p.v }));
}

function evidence(ev) {
  const payload = ev.payload || {};
  const video = h("video", { controls: true, preload: "metadata", playsinline: true, muted: true, id: "clip",
    "aria-label": `Evidence clip of event ${ev.event_id}` });
  const canvas = h("canvas", { class: "overlay", "aria-hidden": "true" });
  const wrap = h("div", { class: "player" }, video, canvas);
  if (ev.clip_status === "stored") video.src = `/web/events/${encodeURIComponent(ev.event_id)}/clip`;
  else wrap.replaceChildren(h("p", { class: "error", text: `No playable clip (clip status: ${ev.clip_status}).` }));
  const track = clipTrack(payload);
  const boxes = payload.overlay?.boxes?.length ? payload.overlay.boxes : payload.boxes || [];
  // A kitchen event's boxes belong to its time span (start..end, media time): solid red then, faint around it.
  const clipStart = payload.overlay?.clip_start_media_s ?? Math.max(0, (payload.start ?? 0) - PRE_ROLL_S);
  const span = Number.isFinite(payload.start) ? [payload.start - clipStart, (payload.end ?? payload.start) - clipStart] : null;

  function draw() {
    const vw = video.videoWidth, vh = video.videoHeight;
    const cw = video.clientWidth, ch = video.clientHeight, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(cw * dpr) || canvas.height !== Math.round(ch * dpr)) {
      canvas.width = Math.round(cw * dpr); canvas.height = Math.round(ch * dpr);
      canvas.style.width = `${cw}px`; canvas.style.height = `${ch}px`;
    }
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (!vw || !vh) return;
    // The video is letterboxed (object-fit: contain): pixel (u, v) of the clip lands at offset + scale * (u, v).
    const k = Math.min(cw / vw, ch / vh);
    g.setTransform(k * dpr, 0, 0, k * dpr, ((cw - vw * k) / 2) * dpr, ((ch - vh * k) / 2) * dpr);
    const px = 1 / k; // one screen pixel in clip pixels
    const t = video.currentTime;
    if (track.length) {
      const seen = track.filter((p) => p.t <= t + 1e-3);
      g.lineWidth = 2 * px;
      g.strokeStyle = "rgba(255, 220, 0, 0.35)";
      g.beginPath();
      track.forEach((p, i) => (i ? g.lineTo(p.u, p.v) : g.moveTo(p.u, p.v)));
      g.stroke();
      if (seen.length) {
        g.strokeStyle = "rgba(255, 60, 40, 0.95)";
        g.beginPath();
        seen.forEach((p, i) => (i ? g.lineTo(p.u, p.v) : g.moveTo(p.u, p.v)));
        g.stroke();
        const last = seen[seen.length - 1];
        if (t - last.t < 0.25) {
          g.beginPath();
          g.arc(last.u, last.v, 9 * px, 0, 2 * Math.PI);
          g.stroke();
        }
      }
    }
    if (boxes.length) {
      const during = !span || (t >= span[0] - 1e-3 && t <= span[1] + 1e-3);
      g.lineWidth = 3 * px;
      g.setLineDash(during ? [] : [8 * px, 6 * px]);
      g.strokeStyle = during ? "rgba(255, 60, 40, 0.95)" : "rgba(255, 220, 0, 0.5)";
      for (const [x1, y1, x2, y2] of boxes) g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      g.setLineDash([]);
      canvas.dataset.boxes = during ? "event" : "around";
    }
    canvas.dataset.time = t.toFixed(3);
  }
  let frame = 0;
  const loop = () => { draw(); if (!video.paused && !video.ended) frame = requestAnimationFrame(loop); };
  for (const e of ["loadedmetadata", "seeked", "timeupdate", "pause"]) video.addEventListener(e, draw);
  video.addEventListener("play", () => { cancelAnimationFrame(frame); loop(); });
  const resize = new ResizeObserver(draw);
  resize.observe(video);

  const snapshot = ev.payload?.snapshot_sha256 || ev.clip_status
    ? h("figure", { class: "snapshot" },
      h("img", { src: `/web/events/${encodeURIComponent(ev.event_id)}/snapshot`, alt: "Snapshot of the event", loading: "lazy",
        onerror: (e) => e.target.closest("figure").replaceChildren(h("p", { class: "hint", text: "No snapshot for this event." })) }),
      h("figcaption", { text: "Snapshot" }))
    : null;

  const integrity = h("dl", { class: "integrity" },
    h("dt", { text: "Clip SHA-256" }), h("dd", {}, h("code", { class: "sha", text: ev.clip_sha256 || "—" })),
    h("dt", { text: "Verified" }), h("dd", { id: "verified", text: ev.clip_status === "stored" ? "checking…" : "no clip" }));
  if (ev.clip_status === "stored") {
    web(`/web/events/${encodeURIComponent(ev.event_id)}/verify`).then((r) => {
      const dd = integrity.querySelector("#verified");
      dd.textContent = r.verified ? "✔ stored clip matches the edge's SHA-256" : `✘ MISMATCH: stored clip hashes to ${r.sha256}`;
      dd.className = r.verified ? "ok" : "error";
    }).catch((err) => { integrity.querySelector("#verified").textContent = `could not check: ${err.message}`; });
  }
  return { node: h("section", { class: "evidence", "aria-label": "Evidence" }, wrap, snapshot, integrity),
    stop: () => { resize.disconnect(); cancelAnimationFrame(frame); video.removeAttribute("src"); video.load(); } };
}

function byFloorName(a, b) {
  const x = Number(a), y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : String(a).localeCompare(String(b));
}

// The facade as a storey/column grid, highest storey on top, the release cell highlighted, each storey shaded by
// its release probability.
export function facadeGrid(release, calibration) {
  const probs = release.floor_probabilities || {};
  const floors = calibration?.floors?.length
    ? calibration.floors.map((f) => f.name)
    : [...new Set([...Object.keys(probs), release.floor].filter((f) => f !== null && f !== undefined))].sort(byFloorName);
  const columns = calibration?.columns?.length ? calibration.columns.map((c) => c.name) : [release.column ?? "?"];
  const cell = 28, labelW = 44, probW = 56, top = 22;
  const width = labelW + columns.length * cell + probW, height = top + floors.length * cell + 4;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width: Math.round(width * 1.3), class: "facade", role: "img", id: "facade",
    "aria-label": `Facade: release at floor ${release.floor ?? "?"}, column ${release.column ?? "?"}` +
      (probs[release.floor] !== undefined ? `, probability ${Math.round(probs[release.floor] * 100)} %` : "") });
  columns.forEach((c, j) => svg.append(s("text", { x: labelW + j * cell + cell / 2, y: 15, "text-anchor": "middle", class: "col-name" }, c)));
  [...floors].reverse().forEach((f, i) => {
    const y = top + i * cell, p = probs[f] ?? 0;
    svg.append(s("text", { x: labelW - 6, y: y + cell / 2 + 4, "text-anchor": "end", class: "floor-name" }, f));
    columns.forEach((c, j) => {
      const hit = f === release.floor && c === (release.column ?? "?");
      svg.append(s("rect", { x: labelW + j * cell + 1, y: y + 1, width: cell - 2, height: cell - 2, rx: 2,
        class: hit ? "cell release" : "cell", "fill-opacity": hit ? 1 : (0.08 + 0.8 * p).toFixed(2),
        "data-floor": f, "data-column": c }));
    });
    if (p > 0) svg.append(s("text", { x: labelW + columns.length * cell + 6, y: y + cell / 2 + 4, class: "prob",
      "data-floor": f }, `${Math.round(p * 100)} %`));
  });
  return svg;
}

async function releaseSection(v, ev) {
  const release = ev.payload?.release;
  if (v.event_type !== "falling_object") return null;
  if (!release) return h("section", { class: "card" }, h("h2", { text: "Release" }),
    h("p", { class: "hint", text: "The camera had no calibration: the storey could not be estimated." }));
  let calibration = null;
  try { calibration = (await api(`/calibrations/${encodeURIComponent(v.site)}/${encodeURIComponent(v.camera_id)}`)).current?.calibration; }
  catch { /* no calibration stored on the server: draw the storeys named in the probabilities */ }
  const p = release.floor_probabilities?.[release.floor];
  return h("section", { class: "card release-box", "aria-labelledby": "release-title" },
    h("h2", { id: "release-title", text: "Release" }),
    h("p", { class: "release-text", id: "release-text",
      text: `Floor ${release.floor ?? "?"}, column ${release.column ?? "?"}` + (p !== undefined ? ` — probability ${Math.round(p * 100)} %` : "") }),
    facadeGrid(release, calibration),
    h("p", { class: "hint", text: calibration ? "Storeys and columns from the camera's saved calibration." : "No saved calibration: storeys from the estimate only." }));
}

function auditList(rows) {
  return h("ol", { class: "audit", id: "audit" }, rows.map((a) => h("li", {},
    h("time", { datetime: a.at, text: when(a.at) }), " ",
    h("strong", { text: a.actor }), ` ${a.action}`,
    ...Object.entries(a.detail || {}).map(([k, val]) => h("span", { class: "detail", text: ` · ${k}: ${val}` })))));
}

function reviewForm(v, onDone) {
  const me = user();
  const reason = h("textarea", { id: "dismiss-reason", rows: 2 });
  const note = h("textarea", { id: "note", rows: 2 });
  const assignee = h("input", { id: "assignee", autocomplete: "off", value: v.assignee || "" });
  const error = h("p", { class: "error", role: "alert" });
  async function act(body) {
    error.textContent = "";
    try {
      await api(`/violations/${v.id}/review`, { method: "POST", body });
      say(`Done: ${body.action}.`);
      await onDone();
    } catch (err) { error.textContent = err.message; }
  }
  const form = h("section", { class: "card review", "aria-labelledby": "review-title" },
    h("h2", { id: "review-title", text: "Review" }),
    h("div", { class: "buttons" },
      h("button", { type: "button", class: "primary", id: "confirm", disabled: v.status === "confirmed", onclick: () => act({ action: "confirm" }), text: "Confirm" }),
      v.status !== "open" ? h("button", { type: "button", id: "reopen", onclick: () => act({ action: "reopen" }), text: "Reopen" }) : null),
    h("form", { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { error.textContent = "Give a reason to dismiss."; reason.focus(); return; }
      act({ action: "dismiss", reason: reason.value });
    } }, h("label", { for: "dismiss-reason", text: "Reason to dismiss" }), reason,
    h("button", { type: "submit", id: "dismiss", text: "Dismiss" })),
    me && me.role !== "inspector" ? h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); act({ action: "assign", assignee: assignee.value.trim() }); } },
      h("label", { for: "assignee", text: "Assign to (user name)" }), assignee, h("button", { type: "submit", id: "assign", text: "Assign" })) : null,
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); act({ action: "note", note: note.value }); } },
      h("label", { for: "note", text: "Note" }), note, h("button", { type: "submit", id: "add-note", text: "Add note" })),
    error);
  return form;
}

export async function violationView(main, id) {
  let stops = [];
  async function render() {
    const [v, audit] = await Promise.all([api(`/violations/${id}`), api(`/violations/${id}/audit`)]);
    stops.forEach((f) => f()); stops = [];
    const ev = v.events[v.events.length - 1];
    const header = h("div", { class: "title-row" },
      h("h1", { text: `${label(v.type)} — ${v.place}` }),
      h("span", { class: "badges" }, h("span", { class: `badge status-${v.status}`, id: "status-badge", text: v.status }),
        h("span", { class: "badge", text: v.severity }), v.assignee ? h("span", { class: "badge", text: `assigned: ${v.assignee}` }) : null));
    const meta = h("p", { class: "meta" }, `${v.site} · camera ${v.camera_id} · first seen `,
      h("time", { datetime: v.first_seen, text: when(v.first_seen) }), ` · ${v.event_count} event${v.event_count > 1 ? "s" : ""}`,
      v.dismiss_reason ? ` · dismissed: ${v.dismiss_reason}` : "");
    const parts = [h("p", {}, h("a", { href: "#/violations", text: "← All violations" })), header, meta];
    if (ev) {
      const e = evidence(ev);
      stops.push(e.stop);
      parts.push(e.node);
      parts.push(await releaseSection(v, ev));
    }
    parts.push(h("div", { class: "columns" }, reviewForm(v, render),
      h("section", { class: "card", "aria-labelledby": "audit-title" }, h("h2", { id: "audit-title", text: "Audit trail" }), auditList(audit))));
    parts.push(h("p", {}, h("a", { href: `/web/violations/${v.id}/export.zip`, download: "", id: "export", class: "button", text: "Download case archive (zip)" })));
    main.replaceChildren(...parts.filter(Boolean));
  }
  await render();
  return () => stops.forEach((f) => f());
}
