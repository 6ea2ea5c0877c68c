"""How far the falling detector's track points lie from the truth: ``falling_bench --point-errors``.

Each detected throw's event track is compared point by point with the generator's truth at the same frame
time (the projection of the object's centre at the middle of its exposure, moved by that frame's camera
shake). The error ``e = measured − truth`` is split along the image motion (the truth's velocity direction:
positive = ahead of the object, in the direction it moves) and across it, and summarised by what should
drive it: the blob size, the speed in pixels per frame, the motion-blur streak, the time since release and
where the point came from (the motion stage's blob, that blob measured again against an older frame, or
looking back). ``lag_ms`` is the along-motion error
as time: ``−e_along / speed`` (positive = the point shows where the object was that long before).

Per track, the noise the back-projection assumed (``pixel_sigma_px``, per axis) is set beside the measured
RMS error per axis, and beside the noise the back-projection's own estimator (third differences) sees in the
errors: a bias that drifts smoothly along a track has no third difference.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

SPEED_BINS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 1e9)
"""px per frame."""
SIZE_BINS = (0.0, 2.0, 4.0, 7.0, 12.0, 1e9)
"""√(blob area), px."""
STREAK_BINS = (0.0, 1.0, 3.0, 6.0, 12.0, 1e9)
"""px: the truth's image speed × the shutter time."""
AGE_BINS = (0.0, 0.25, 0.5, 1.0, 2.0, 1e9)
"""s since release."""
RATIO_BINS = (0.0, 0.5, 1.0, 1.5, 2.5, 1e9)
"""step per frame / object size (truth size in px): below 1 the object overlaps its last position."""


def point_arrays(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """All points of all records as flat arrays, with the derived errors (see module docstring)."""
    cols: dict[str, list[Any]] = {}
    for k, rec in enumerate(records):
        pts = rec["points"]
        n = len(pts["t"])
        for name, values in pts.items():
            cols.setdefault(name, []).extend(values)
        cols.setdefault("track", []).extend([k] * n)
        cols.setdefault("age_s", []).extend([t - rec["release_t_s"] for t in pts["t"]])
        cols.setdefault("fps", []).extend([rec["fps"]] * n)
        cols.setdefault("shutter_s", []).extend([rec["shutter_s"]] * n)
    a = {k: np.asarray(v) for k, v in cols.items()}
    if not a:
        return a
    eu = a["u"] - a["tu"] - a["shake_u"]
    ev = a["v"] - a["tv"] - a["shake_v"]
    speed = np.hypot(a["vu"], a["vv"])  # px/s
    du = np.where(speed > 0, a["vu"] / np.maximum(speed, 1e-9), 0.0)
    dv = np.where(speed > 0, a["vv"] / np.maximum(speed, 1e-9), 1.0)
    a["e_u"], a["e_v"] = eu, ev
    a["e_along"] = eu * du + ev * dv
    a["e_across"] = -eu * dv + ev * du
    a["e_noshake"] = np.hypot(a["u"] - a["tu"], a["v"] - a["tv"])
    if "raw_u" in a:  # the motion stage's own blob centroid, before it was measured again
        ru, rv = a["raw_u"] - a["tu"] - a["shake_u"], a["raw_v"] - a["tv"] - a["shake_v"]
        a["raw_along"], a["raw_across"] = ru * du + rv * dv, -ru * dv + rv * du
    a["speed_px_frame"] = speed / a["fps"]
    a["streak_px"] = speed * a["shutter_s"]
    a["blob_px"] = np.sqrt(np.maximum(a["area"], 0.0))
    a["step_over_size"] = a["speed_px_frame"] / np.maximum(a["size_px"], 0.5)
    a["lag_ms"] = np.where(speed > 0, -a["e_along"] / np.maximum(speed, 1e-9) * 1000.0, np.nan)
    return a


def _row(label: str, sel: np.ndarray, a: dict[str, np.ndarray]) -> dict[str, Any]:
    n = int(sel.sum())
    if n == 0:
        return {"bin": label, "n": 0}
    al, ac = a["e_along"][sel], a["e_across"][sel]
    fast = sel & (a["speed_px_frame"] >= 1.0)
    return {
        "bin": label,
        "n": n,
        "along_median": round(float(np.median(al)), 2),
        "along_mean": round(float(np.mean(al)), 2),
        "along_rms": round(float(np.sqrt(np.mean(al * al))), 2),
        "across_median": round(float(np.median(ac)), 2),
        "across_rms": round(float(np.sqrt(np.mean(ac * ac))), 2),
        "dist_p50": round(float(np.median(np.hypot(al, ac))), 2),
        "dist_p90": round(float(np.percentile(np.hypot(al, ac), 90)), 2),
        "lag_ms_median": round(float(np.median(a["lag_ms"][fast])), 1) if fast.any() else None,
    }


def _binned(a: dict[str, np.ndarray], key: str, edges: tuple[float, ...], base: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for lo, hi in pairwise(edges):
        label = f"{lo:g}–{hi:g}" if hi < 1e8 else f"≥ {lo:g}"
        out.append(_row(label, base & (a[key] >= lo) & (a[key] < hi), a))
    return out


def _third_difference_sigma(e: np.ndarray) -> float:
    """The back-projection's noise estimator (calibration.backproject._track_noise_px, without its floor)
    applied to a track's errors: the white part of the error."""
    if len(e) < 4:
        return float("nan")
    d3 = np.diff(e, n=3, axis=0)
    return float(np.sqrt(np.median(d3 * d3) / (0.455 * 20.0)))


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Error distributions of every detected throw's track points (see the module docstring)."""
    a = point_arrays(records)
    if not a:
        return {"points": 0}
    visible = a["visible"].astype(bool)
    every = np.ones(visible.size, bool)
    tracks = []
    for k, rec in enumerate(records):
        sel = a["track"] == k
        if sel.sum() < 4:
            continue
        e = np.column_stack([a["e_u"][sel], a["e_v"][sel]])
        resid = e - np.median(e, axis=0)
        tracks.append({
            "floor": rec["floor"], "kind": rec["kind"], "n": int(sel.sum()),
            "assumed_sigma_px": rec["pixel_sigma_px"],
            "rms_per_axis_px": round(float(np.sqrt(np.mean(e * e))), 2),
            "rms_per_axis_about_median_px": round(float(np.sqrt(np.mean(resid * resid))), 2),
            "third_difference_sigma_px": round(_third_difference_sigma(e), 2),
            "along_median_px": round(float(np.median(a["e_along"][sel])), 2),
        })

    def med(key: str) -> float | None:
        vals = [tr[key] for tr in tracks if tr[key] is not None and np.isfinite(tr[key])]
        return round(float(np.median(vals)), 2) if vals else None

    storeys: dict[str, Any] = {}
    for key in ("detected_points", "truth_points", "truth_points_no_shake"):
        recs = [r for r in records if key == "detected_points" or key in r]
        if not recs:
            continue
        got = [(r["physics_floor"], r["p_truth"]) if key == "detected_points" else
               (r[key]["floor"], r[key]["p_truth"]) for r in recs]
        storeys[key] = {
            "n": len(recs),
            "exact": round(sum(f == r["floor"] for (f, _), r in zip(got, recs, strict=True)) / len(recs), 3),
            "log_score": round(float(np.mean([np.log(max(p, 1e-3)) for _, p in got])), 3),
        }
    again = a["source"] == "measured again"
    if again.any() and "raw_along" in a:
        raw = dict(a, e_along=a["raw_along"], e_across=a["raw_across"],
                   lag_ms=np.where(a["speed_px_frame"] > 0, -a["raw_along"] * 1000.0 / np.maximum(
                       a["speed_px_frame"] * a["fps"], 1e-9), np.nan))
        storeys_again = [_row("measured again", again, a), _row("  the same, as the motion stage had them", again, raw)]
    else:
        storeys_again = []
    return {
        "points": int(a["t"].size),
        "measured_again": storeys_again,
        "storey": storeys,
        "tracks": len(records),
        "all": _row("all", every, a),
        "all_without_shake_correction_dist_p50": round(float(np.median(a["e_noshake"])), 2),
        "by_source": [_row(s, a["source"] == s, a) for s in ("track", "measured again", "prefix")],
        "by_visibility": [_row("visible", visible, a), _row("hidden by the truth's test", ~visible, a)],
        "by_speed_px_frame": _binned(a, "speed_px_frame", SPEED_BINS, every),
        "by_blob_px": _binned(a, "blob_px", SIZE_BINS, every),
        "by_truth_size_px": _binned(a, "size_px", SIZE_BINS, every),
        "by_streak_px": _binned(a, "streak_px", STREAK_BINS, every),
        "by_step_over_size": _binned(a, "step_over_size", RATIO_BINS, every),
        "by_age_s": _binned(a, "age_s", AGE_BINS, every),
        "by_age_s_track_points": _binned(a, "age_s", AGE_BINS, a["source"] == "track"),
        "per_track_median": {k: med(k) for k in ("assumed_sigma_px", "rms_per_axis_px",
                                                  "rms_per_axis_about_median_px", "third_difference_sigma_px")},
        "per_track": tracks,
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary as plain-text tables."""
    if not s.get("points"):
        return "point errors: no detected throw"
    head = (f"{'':>22} {'n':>5} {'along med':>9} {'mean':>6} {'rms':>5} {'across med':>10} {'rms':>5} "
            f"{'|e| p50':>7} {'p90':>5} {'lag ms':>7}")
    lines = [f"point errors of {s['points']} points on {s['tracks']} detected throws "
             "(e = measured − truth at the same frame time, px; along = in the direction of motion)", head]

    def add(title: str, rows: list[dict[str, Any]]) -> None:
        lines.append(title)
        for r in rows:
            if not r["n"]:
                lines.append(f"{r['bin']:>22} {0:>5}")
                continue
            lag = "" if r["lag_ms_median"] is None else f"{r['lag_ms_median']:.1f}"
            lines.append(f"{r['bin']:>22} {r['n']:>5} {r['along_median']:>9.2f} {r['along_mean']:>6.2f} "
                         f"{r['along_rms']:>5.2f} {r['across_median']:>10.2f} {r['across_rms']:>5.2f} "
                         f"{r['dist_p50']:>7.2f} {r['dist_p90']:>5.2f} {lag:>7}")

    add("all", [s["all"]])
    add("by source", s["by_source"])
    if s.get("measured_again"):
        add("points measured again, before and after", s["measured_again"])
    add("by visibility", s["by_visibility"])
    add("by speed, px/frame", s["by_speed_px_frame"])
    add("by blob size √area, px", s["by_blob_px"])
    add("by object size (truth), px", s["by_truth_size_px"])
    add("by blur streak, px", s["by_streak_px"])
    add("by step / object size", s["by_step_over_size"])
    add("by time since release, s", s["by_age_s"])
    add("by time since release, s (motion-stage points only)", s["by_age_s_track_points"])
    m = s["per_track_median"]
    lines.append(f"per track (median over tracks): σ assumed by the back-projection {m['assumed_sigma_px']} px; "
                 f"measured RMS error per axis {m['rms_per_axis_px']} px ({m['rms_per_axis_about_median_px']} "
                 f"about the track's median error); white part (third differences) {m['third_difference_sigma_px']} px")
    lines.append(f"median |e| without the shake correction: {s['all_without_shake_correction_dist_p50']} px")
    for key, what in (("detected_points", "the detector's points"),
                      ("truth_points", "the truth at the same times (with the frame's shake)"),
                      ("truth_points_no_shake", "the truth at the same times, without shake")):
        if key in s["storey"]:
            st = s["storey"][key]
            lines.append(f"storey from {what}: exact {st['exact']:.3f} of {st['n']}, log score {st['log_score']:.3f}")
    return "\n".join(lines)
