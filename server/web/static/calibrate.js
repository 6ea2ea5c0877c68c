// Building managers: cameras, and per camera a calibration page — clicked facade points fitted on the server
// (calibration.fit), the storey/column grid drawn live over the snapshot, the detection and ignore areas as
// polygons, and saved versions with who and when.
import { api, user } from "./api.js";
import { h, say, when } from "./dom.js";

export async function camerasView(main) {
  const cams = await api("/cameras");
  main.replaceChildren(h("h1", { text: "Cameras" }),
    cams.length ? h("ul", { class: "cameras" }, cams.map((c) => h("li", { class: "card" },
      h("strong", { text: c.camera_id }), ` · ${c.site} · ${c.state || "no heartbeat"}`,
      c.last_heartbeat_at ? h("span", { class: "hint", text: ` (last ${when(c.last_heartbeat_at)})` }) : null, " ",
      h("a", { href: `#/cameras/${encodeURIComponent(c.site)}/${encodeURIComponent(c.camera_id)}`, text: "Calibrate" }))))
      : h("p", { text: "No cameras have reported yet." }));
  return () => {};
}

const DEFAULT_STOREYS = Array.from({ length: 10 }, (_, i) => `${i + 1}: ${(i * 3).toFixed(1)}`).join("\n");

// "name: z" per line (storey floor slabs, lowest first) and "name: x_min-x_max" per line (columns).
export function parseStoreys(text) {
  const floors = [];
  for (const [i, line] of text.split("\n").map((l) => l.trim()).filter(Boolean).entries()) {
    const m = line.match(/^([^:]+):\s*(-?[\d.]+)$/);
    if (!m) throw new Error(`storeys line ${i + 1}: write "name: height of its floor in m", e.g. "12: 33.0"`);
    floors.push({ name: m[1].trim(), z: Number(m[2]) });
  }
  return floors;
}
export function parseColumns(text) {
  const cols = [];
  for (const [i, line] of text.split("\n").map((l) => l.trim()).filter(Boolean).entries()) {
    const m = line.match(/^([^:]+):\s*(-?[\d.]+)\s*(?:-|to)\s*(-?[\d.]+)$/);
    if (!m) throw new Error(`columns line ${i + 1}: write "name: from-to in m along the facade", e.g. "B: 4-8"`);
    cols.push({ name: m[1].trim(), x_min: Number(m[2]), x_max: Number(m[3]) });
  }
  return cols;
}

export async function calibrateView(main, site, camera) {
  const saved = await api(`/calibrations/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`);
  const base = saved.current?.calibration || null;
  const st = {
    size: base?.image_size || null,
    points: (base?.points || []).map((p) => ({ ...p })),
    detection: base?.detection_area ? base.detection_area.map((p) => [...p]) : [],
    ignores: (base?.ignore_areas || []).map((poly) => poly.map((p) => [...p])),
    mode: "points", fit: null, grid: [], selected: null, drag: null,
  };
  const isManager = ["manager", "admin"].includes(user()?.role);

  const file = h("input", { type: "file", id: "snapshot-file", accept: "image/*" });
  const img = h("img", { id: "calib-image", alt: `Snapshot from camera ${camera}` });
  const canvas = h("canvas", { id: "calib-canvas", class: "overlay interactive", tabindex: "0",
    "aria-label": "Click on the snapshot to add a point in the chosen mode; drag a point to move it" });
  const stage = h("div", { class: "stage", hidden: true }, img, canvas);
  const building = h("input", { id: "building", value: base?.building || "" });
  const storeys = h("textarea", { id: "storeys", rows: 6, spellcheck: "false",
    "aria-describedby": "storeys-help" });
  storeys.value = base ? base.floors.map((f) => `${f.name}: ${f.z}`).join("\n") + (base.roof_z ? `\nroof: ${base.roof_z}` : "") : DEFAULT_STOREYS;
  const columns = h("textarea", { id: "columns", rows: 4, spellcheck: "false", "aria-describedby": "columns-help" });
  columns.value = base?.columns ? base.columns.map((c) => `${c.name}: ${c.x_min}-${c.x_max}`).join("\n") : "";
  const modes = h("fieldset", { class: "modes" }, h("legend", { text: "Clicks add" }),
    ...[["points", "Facade points"], ["detection", "Detection area"], ["ignore", "Ignore area"]].map(([value, text]) =>
      h("label", { class: "radio" }, h("input", { type: "radio", name: "mode", value, checked: value === "points",
        onchange: () => { st.mode = value; draw(); } }), text)));
  const tbody = h("tbody", { id: "points" });
  const table = h("table", { class: "points" }, h("caption", { text: "Clicked points (image pixels → facade position)" }),
    h("thead", {}, h("tr", {}, ...["#", "u px", "v px", "x m", "storey", "above floor m", "error px", ""].map((t) => h("th", { scope: "col", text: t })))), tbody);
  const result = h("p", { id: "fit-result", class: "fit", role: "status", "aria-live": "polite",
    text: st.points.length ? `${st.points.length} saved points: choose the snapshot image to see the grid and refit.` : "Choose a snapshot image, then click at least 6 facade points." });
  const polyInfo = h("p", { id: "poly-info", class: "hint" });
  const saveButton = h("button", { type: "button", class: "primary", id: "save", disabled: true, text: "Save calibration" });
  const history = h("ol", { class: "history", id: "history" });

  function geometry() {
    const lines = parseStoreys(storeys.value);
    const roof = lines.find((f) => f.name.toLowerCase() === "roof");
    return {
      building: building.value.trim() || undefined, camera_id: camera, image_size: st.size,
      floors: lines.filter((f) => f !== roof), roof_z: roof?.z, columns: parseColumns(columns.value),
      detection_area: st.detection.length >= 3 ? st.detection : undefined,
      ignore_areas: st.ignores.filter((p) => p.length >= 3),
    };
  }

  // --- drawing --------------------------------------------------------------------------------------------
  function draw() {
    if (!st.size || !img.clientWidth) return;
    const dpr = window.devicePixelRatio || 1, k = img.clientWidth / st.size[0];
    canvas.width = Math.round(img.clientWidth * dpr); canvas.height = Math.round(img.clientHeight * dpr);
    canvas.style.width = `${img.clientWidth}px`; canvas.style.height = `${img.clientHeight}px`;
    const g = canvas.getContext("2d");
    g.setTransform(k * dpr, 0, 0, k * dpr, 0, 0);
    g.clearRect(0, 0, st.size[0], st.size[1]);
    const px = 1 / k;
    for (const line of st.grid) {
      g.strokeStyle = line.kind === "column" ? "rgba(0, 200, 255, 0.9)" : "rgba(255, 200, 0, 0.9)";
      g.lineWidth = 1.5 * px;
      for (const piece of line.pieces) {
        g.beginPath();
        piece.forEach(([u, v], i) => (i ? g.lineTo(u, v) : g.moveTo(u, v)));
        g.stroke();
      }
      const first = line.pieces[0]?.[0];
      if (first && line.kind !== "column") {
        g.font = `${12 * px}px system-ui, sans-serif`; g.fillStyle = "rgba(255, 200, 0, 1)";
        g.fillText(line.name, first[0] + 3 * px, first[1] - 3 * px);
      }
    }
    const poly = (pts, colour, closed) => {
      if (!pts.length) return;
      g.strokeStyle = colour; g.fillStyle = colour.replace("1)", "0.15)"); g.lineWidth = 2 * px;
      g.beginPath(); pts.forEach(([u, v], i) => (i ? g.lineTo(u, v) : g.moveTo(u, v)));
      if (closed) { g.closePath(); g.fill(); }
      g.stroke();
      for (const [u, v] of pts) g.fillRect(u - 3 * px, v - 3 * px, 6 * px, 6 * px);
    };
    poly(st.detection, "rgba(80, 255, 120, 1)", st.detection.length >= 3);
    st.ignores.forEach((p) => poly(p, "rgba(255, 80, 200, 1)", p.length >= 3));
    st.points.forEach((p, i) => {
      const bad = st.fit?.outliers.includes(i);
      g.strokeStyle = bad ? "#ff3030" : i === st.selected ? "#ffffff" : "#30ff60";
      g.lineWidth = 2 * px;
      g.beginPath(); g.arc(p.u, p.v, 6 * px, 0, 2 * Math.PI); g.stroke();
      g.font = `bold ${12 * px}px system-ui, sans-serif`; g.fillStyle = g.strokeStyle;
      g.fillText(String(i + 1), p.u + 8 * px, p.v - 8 * px);
    });
    canvas.dataset.gridLines = String(st.grid.length);
  }

  // --- points table ---------------------------------------------------------------------------------------
  function floorOptions(selected) {
    let names = [];
    try { names = parseStoreys(storeys.value).map((f) => f.name).filter((n) => n.toLowerCase() !== "roof"); } catch { /* shown on fit */ }
    return [h("option", { value: "", text: "—" }), ...names.map((n) => h("option", { value: n, text: n, selected: n === selected }))];
  }
  function renderTable() {
    tbody.replaceChildren(...st.points.map((p, i) => {
      const num = (key, attrs) => h("input", { type: "number", step: "any", value: p[key] ?? "", "aria-label": `point ${i + 1} ${key}`,
        class: `p-${key}`, ...attrs, onchange: (e) => { p[key] = e.target.value === "" ? undefined : Number(e.target.value); changed(); } });
      const floor = h("select", { "aria-label": `point ${i + 1} storey`, class: "p-floor",
        onchange: (e) => { p.floor = e.target.value || undefined; delete p.z; changed(); } }, floorOptions(p.floor));
      const err = st.fit?.residuals_px?.[i];
      return h("tr", { class: i === st.selected ? "selected" : "", "data-index": i },
        h("th", { scope: "row", text: String(i + 1) }), h("td", {}, num("u")), h("td", {}, num("v")), h("td", {}, num("x")),
        h("td", {}, floor), h("td", {}, num("dz")),
        h("td", { class: st.fit?.outliers.includes(i) ? "error" : "", text: err === undefined ? "" : err.toFixed(1) }),
        h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Delete point ${i + 1}`, text: "Delete",
          onclick: () => { st.points.splice(i, 1); st.selected = null; changed(); } })));
    }));
  }

  // --- fitting --------------------------------------------------------------------------------------------
  let timer = null, seq = 0;
  function changed() {
    renderTable(); draw();
    clearTimeout(timer);
    timer = setTimeout(refit, 250);
  }
  async function refit() {
    const mine = ++seq;
    const ready = st.points.filter((p) => Number.isFinite(p.x) && (p.floor || Number.isFinite(p.z)));
    saveButton.disabled = true;
    if (!st.size) { result.textContent = "Load a snapshot first."; return; }
    if (ready.length < 6 || ready.length < st.points.length) {
      st.fit = null; st.grid = [];
      result.textContent = `${ready.length} of ${st.points.length} points have a facade position; the fit needs at least 6, all complete.`;
      draw(); return;
    }
    let points;
    try {
      const geo = geometry();
      points = { ...geo, points: st.points.map(({ u, v, x, floor, dz, z }) => (floor ? { u, v, x, floor, dz: dz || 0 } : { u, v, x, z })) };
    } catch (err) { result.textContent = err.message; result.className = "fit error"; return; }
    result.textContent = "Fitting…";
    try {
      const fit = await api("/calibrations/fit", { method: "POST", body: { points } });
      if (mine !== seq) return;
      st.fit = fit; st.grid = fit.grid;
      result.className = "fit ok";
      result.textContent = `Reprojection error ${fit.rms_px.toFixed(2)} px RMS (${(fit.rms_storey_fraction * 100).toFixed(1)} % of a storey)` +
        (fit.outliers.length ? ` — ${fit.outliers.length > 1 ? "points" : "point"} ${fit.outliers.map((i) => i + 1).join(", ")} ${fit.outliers.length > 1 ? "look" : "looks"} mis-clicked (left out of the fit)` : "");
      saveButton.disabled = !isManager;
    } catch (err) {
      if (mine !== seq) return;
      st.fit = null; st.grid = [];
      result.className = "fit error";
      result.textContent = `Cannot fit: ${err.message}`;
    }
    renderTable(); draw();
  }

  // --- pointer: add, select, drag ----------------------------------------------------------------------------
  function toImage(e) {
    const r = canvas.getBoundingClientRect(), k = st.size[0] / r.width;
    return [Math.round((e.clientX - r.left) * k * 10) / 10, Math.round((e.clientY - r.top) * k * 10) / 10];
  }
  function nearest(u, v) {
    const k = st.size[0] / canvas.getBoundingClientRect().width;
    let best = null, bestD = 12 * k;
    st.points.forEach((p, i) => { const d = Math.hypot(p.u - u, p.v - v); if (d < bestD) { best = i; bestD = d; } });
    return best;
  }
  canvas.addEventListener("pointerdown", (e) => {
    if (!st.size) return;
    const [u, v] = toImage(e);
    if (st.mode === "points") {
      const hit = nearest(u, v);
      if (hit !== null) { st.selected = hit; st.drag = hit; canvas.setPointerCapture(e.pointerId); renderTable(); draw(); return; }
      st.points.push({ u, v, dz: 0 });
      st.selected = st.points.length - 1;
      changed();
      tbody.querySelector(`tr[data-index="${st.selected}"] .p-x`)?.focus();
    } else if (st.mode === "detection") {
      st.detection.push([u, v]); polyText(); draw();
    } else {
      if (!st.ignores.length || st.ignores[st.ignores.length - 1].closed) st.ignores.push([]);
      st.ignores[st.ignores.length - 1].push([u, v]); polyText(); draw();
    }
  });
  canvas.addEventListener("pointermove", (e) => {
    if (st.drag === null) return;
    const [u, v] = toImage(e);
    Object.assign(st.points[st.drag], { u, v });
    draw();
  });
  canvas.addEventListener("pointerup", () => { if (st.drag !== null) { st.drag = null; changed(); } });
  canvas.addEventListener("keydown", (e) => {
    if (st.selected === null) return;
    const p = st.points[st.selected], step = e.shiftKey ? 10 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) { p.u += moves[e.key][0]; p.v += moves[e.key][1]; e.preventDefault(); changed(); }
    if (e.key === "Delete" || e.key === "Backspace") { st.points.splice(st.selected, 1); st.selected = null; e.preventDefault(); changed(); }
  });

  function polyText() {
    const open = st.ignores.filter((p) => p.length).length;
    polyInfo.textContent = `Detection area: ${st.detection.length >= 3 ? `${st.detection.length} corners` : "whole frame"}; ignore areas: ${open}.`;
  }
  const polyButtons = h("div", { class: "buttons" },
    h("button", { type: "button", id: "clear-detection", text: "Clear detection area", onclick: () => { st.detection = []; polyText(); draw(); } }),
    h("button", { type: "button", id: "close-ignore", text: "Finish ignore area", onclick: () => {
      const last = st.ignores[st.ignores.length - 1];
      if (last) last.closed = true;
      polyText(); draw();
    } }),
    h("button", { type: "button", id: "clear-ignore", text: "Clear ignore areas", onclick: () => { st.ignores = []; polyText(); draw(); } }));

  file.addEventListener("change", () => {
    const f = file.files[0];
    if (!f) return;
    img.src = URL.createObjectURL(f);
  });
  img.addEventListener("load", () => {
    const size = [img.naturalWidth, img.naturalHeight];
    if (st.size && (st.size[0] !== size[0] || st.size[1] !== size[1]) && st.points.length) {
      say(`This image is ${size[0]}×${size[1]}, the saved points were clicked on ${st.size[0]}×${st.size[1]}: check them.`, "error");
    }
    st.size = size;
    stage.hidden = false;
    requestAnimationFrame(() => { draw(); changed(); });
  });
  const resize = new ResizeObserver(draw);
  resize.observe(img);
  storeys.addEventListener("change", changed);
  columns.addEventListener("change", changed);

  saveButton.addEventListener("click", async () => {
    const cal = { ...st.fit.calibration, ...geometry(), intrinsics: st.fit.calibration.intrinsics, extrinsics: st.fit.calibration.extrinsics };
    for (const k of ["detection_area"]) if (cal[k] === undefined) delete cal[k];
    if (!cal.ignore_areas.length) delete cal.ignore_areas;
    if (cal.roof_z === undefined) delete cal.roof_z;
    if (cal.building === undefined) delete cal.building;
    try {
      const row = await api(`/calibrations/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`, { method: "POST", body: { calibration: cal } });
      say(`Saved version ${row.version}.`);
      saved.versions.unshift(row);
      renderHistory();
    } catch (err) { result.className = "fit error"; result.textContent = `Not saved: ${err.message}`; }
  });
  function renderHistory() {
    history.replaceChildren(...saved.versions.map((r) => h("li", {}, `Version ${r.version} — ${r.saved_by}, `,
      h("time", { datetime: r.saved_at, text: when(r.saved_at) }), ` (${r.calibration.fit ? `${r.calibration.fit.rms_px} px RMS` : "no fit summary"})`)));
    if (!saved.versions.length) history.append(h("li", { text: "Not calibrated yet." }));
  }

  main.replaceChildren(
    h("p", {}, h("a", { href: "#/cameras", text: "← Cameras" })),
    h("h1", { text: `Calibrate ${camera}` }), h("p", { class: "meta", text: `Site ${site}` }),
    h("div", { class: "calib" },
      h("div", { class: "calib-main" },
        h("div", { class: "field" }, h("label", { for: "snapshot-file", text: "Snapshot image from this camera" }), file),
        modes, stage, result, polyInfo, polyButtons),
      h("div", { class: "calib-side card" },
        h("div", { class: "field" }, h("label", { for: "building", text: "Building" }), building),
        h("div", { class: "field" }, h("label", { for: "storeys", text: "Storeys (floor slab heights, lowest first)" }), storeys,
          h("p", { id: "storeys-help", class: "hint", text: 'One per line: "name: height in m"; optionally "roof: height".' })),
        h("div", { class: "field" }, h("label", { for: "columns", text: "Window columns (optional)" }), columns,
          h("p", { id: "columns-help", class: "hint", text: 'One per line: "name: from-to" in m along the facade, left to right from the street.' })))),
    table,
    h("div", { class: "buttons" }, saveButton, isManager ? null : h("span", { class: "hint", text: "Only managers can save." })),
    h("h2", { text: "Saved versions" }), history);
  renderTable(); polyText(); renderHistory();
  return () => { resize.disconnect(); clearTimeout(timer); };
}
