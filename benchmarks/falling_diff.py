"""Compare two ``falling_bench --json`` reports of the same scenes: which throws, false alarms and storeys changed.

    python -m benchmarks.falling_bench --count 180 --seed 4000 --isolation 0 --explain --json before.json
    python -m benchmarks.falling_bench --count 180 --seed 4000 --isolation 0 --explain --json after.json \\
        --param tracker.gate_min_px=4.5
    python -m benchmarks.falling_diff before.json after.json

Every experiment on the detector ends in this question, and the totals hide the answer: "155 → 170 throws, 4 → 7
false alarms" may be 15 gained, or 20 gained and 5 lost. The diff names each throw found by one run only (with
the other run's reason for missing it when that run had ``--explain``), each false alarm that came or went (the
same scene, starting within half a second), and each throw both found whose release storey changed. Reports of
different scene sets are refused; with ``--limit`` or ``--only`` only the scenes both reports hold are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAME_ALARM_S = 0.5
"""Two false alarms of one scene are the same when their events start within this many seconds."""


@dataclass
class Throw:
    scene: str
    throw: int
    floor: str | None = None
    kind: str | None = None
    missed_because: str | None = None
    """The other run's reason for missing it (``--explain``), or None."""


@dataclass
class StoreyChange:
    scene: str
    throw: int
    truth: str
    before: str | None
    after: str | None
    d_before: int | None
    d_after: int | None
    p_truth_before: float
    p_truth_after: float


@dataclass
class Alarm:
    scene: str
    t: float
    blame: str
    detail: str = ""
    """The event's own figures when the report has them (span, points, confidence, storey)."""


@dataclass
class Diff:
    scenes: int
    summary: list[tuple[str, str, str]] = field(default_factory=list)
    gained: list[Throw] = field(default_factory=list)
    lost: list[Throw] = field(default_factory=list)
    new_alarms: list[Alarm] = field(default_factory=list)
    gone_alarms: list[Alarm] = field(default_factory=list)
    storeys: list[StoreyChange] = field(default_factory=list)
    isolation: list[tuple[str, int, int]] = field(default_factory=list)


class ReportError(ValueError):
    """The two reports cannot be compared; the message says why."""


def load_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a readable JSON report ({exc})") from exc
    if not isinstance(report, dict) or "summary" not in report or "scenes" not in report:
        raise ReportError(f"{path}: not a falling_bench --json report (no 'summary' and 'scenes')")
    return report


def _main_scenes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The main set's scenes by name (the isolation scenes, ``iso-TYPE-K``, are compared by their summary)."""
    return {sc["name"]: sc for sc in report["scenes"] if not sc["name"].startswith("iso-")}


def _misses(scene: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(m["throw"]): m for m in scene.get("misses", [])}


def _floors(scene: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The storey record of each detected throw (falling_bench appends them in the order of ``detected``)."""
    floors = scene.get("floors", [])
    if len(floors) != len(scene["detected"]):
        return {}  # an uncalibrated run has no storeys
    return {int(th): fl for th, fl in zip(scene["detected"], floors, strict=True)}


def _throw(scene: str, throw: int, found_in: dict[str, Any], missed_in: dict[str, Any]) -> Throw:
    miss = _misses(missed_in).get(throw)
    floor = _floors(found_in).get(throw, {}).get("truth") or (miss or {}).get("floor")
    return Throw(scene, throw, floor, (miss or {}).get("kind"), (miss or {}).get("category"))


def _alarm(name: str, fa: dict[str, Any]) -> Alarm:
    parts = []
    if "t_end" in fa:
        parts.append(f"to {fa['t_end']:.2f} s")
    if "points" in fa:
        parts.append(f"{fa['points']} points")
    if fa.get("confidence") is not None:
        parts.append(f"confidence {fa['confidence']:.3f}")
    if fa.get("floor") is not None:
        parts.append(f"storey {fa['floor']}")
    return Alarm(name, float(fa["t"]), str(fa.get("blame", "")), ", ".join(parts))


def _alarm_changes(name: str, before: list[dict[str, Any]],
                   after: list[dict[str, Any]]) -> tuple[list[Alarm], list[Alarm]]:
    """False alarms of one scene present after only, and before only (each matched at most once)."""
    left = list(before)
    new = []
    for fa in after:
        same = min(left, key=lambda b: abs(b["t"] - fa["t"]), default=None)
        if same is not None and abs(same["t"] - fa["t"]) <= SAME_ALARM_S:
            left.remove(same)
        else:
            new.append(_alarm(name, fa))
    return new, [_alarm(name, b) for b in left]


def _figure(main: dict[str, Any], key: str) -> str:
    floor = main.get("floor") or {}
    return {
        "throws detected": f"{main.get('detected')} / {main.get('throws')}",
        # reports from before the shown count (2026-12-07) have no such figure
        "recall of throws shown": f"{main.get('recall_shown')} of {main.get('shown_throws')}"
        if "shown_throws" in main else "—",
        "false alarms": f"{main.get('false_alarms')} in {main.get('hours')} h",
        "storey exact / ±1": f"{floor.get('physics_exact')} / {floor.get('physics_within_1')}",
        "log score": f"{floor.get('mean_log_p_truth')}",
        "median latency s": f"{main.get('median_latency_s')}",
    }[key]


def compare(before: dict[str, Any], after: dict[str, Any]) -> Diff:
    """What changed from ``before`` to ``after``; raises :class:`ReportError` for reports of different sets."""
    set_b, set_a = before["summary"]["main"].get("set"), after["summary"]["main"].get("set")
    if set_b != set_a:
        raise ReportError(f"the reports are of different sets: {set_b!r} and {set_a!r}")
    scenes_b, scenes_a = _main_scenes(before), _main_scenes(after)
    common = sorted(set(scenes_b) & set(scenes_a))
    if not common:
        raise ReportError("the reports have no scene in common")
    diff = Diff(scenes=len(common))
    for key in ("throws detected", "recall of throws shown", "false alarms", "storey exact / ±1", "log score",
                "median latency s"):
        diff.summary.append((key, _figure(before["summary"]["main"], key), _figure(after["summary"]["main"], key)))
    for name in common:
        b, a = scenes_b[name], scenes_a[name]
        found_b, found_a = set(map(int, b["detected"])), set(map(int, a["detected"]))
        diff.gained += [_throw(name, th, a, b) for th in sorted(found_a - found_b)]
        diff.lost += [_throw(name, th, b, a) for th in sorted(found_b - found_a)]
        new, gone = _alarm_changes(name, b["false_alarms"], a["false_alarms"])
        diff.new_alarms += new
        diff.gone_alarms += gone
        floors_b, floors_a = _floors(b), _floors(a)
        for th in sorted(found_b & found_a):
            fb, fa = floors_b.get(th), floors_a.get(th)
            if fb and fa and fb["physics"] != fa["physics"]:
                diff.storeys.append(StoreyChange(name, th, fb["truth"], fb["physics"], fa["physics"],
                                                 fb["d_physics"], fa["d_physics"],
                                                 float(fb["p_truth"]), float(fa["p_truth"])))
    iso_b, iso_a = before["summary"].get("isolation") or {}, after["summary"].get("isolation") or {}
    for kind in sorted(set(iso_b) & set(iso_a)):
        if iso_b[kind] != iso_a[kind]:
            diff.isolation.append((kind, int(iso_b[kind]), int(iso_a[kind])))
    return diff


def _closer(change: StoreyChange) -> str:
    if change.d_before is None or change.d_after is None:
        return "?"
    if abs(change.d_after) < abs(change.d_before):
        return "better"
    return "worse" if abs(change.d_after) > abs(change.d_before) else "as far"


def render(diff: Diff, before_name: str, after_name: str) -> str:
    out = [f"{diff.scenes} scenes in both reports", "",
           f"{'':<20}{'before':>20}{'after':>20}"]
    out += [f"{key:<20}{b:>20}{a:>20}" for key, b, a in diff.summary]

    def throws(title: str, items: list[Throw], other: str) -> None:
        out.append("")
        out.append(f"{title} ({len(items)})")
        for t in items:
            why = f"; {other}: {t.missed_because}" if t.missed_because else ""
            out.append(f"  {t.scene} throw {t.throw}: storey {t.floor}, {t.kind or 'object'}{why}")

    throws(f"throws found by {after_name} only", diff.gained, before_name)
    throws(f"throws found by {before_name} only", diff.lost, after_name)
    for title, alarms in ((f"false alarms of {after_name} only", diff.new_alarms),
                          (f"false alarms of {before_name} only", diff.gone_alarms)):
        out.append("")
        out.append(f"{title} ({len(alarms)})")
        out += [f"  {a.scene} {a.t:.2f} s{', ' + a.detail if a.detail else ''} (blamed on {a.blame or '?'})"
                for a in alarms]
    closer = [_closer(c) for c in diff.storeys]
    out.append("")
    out.append(f"storey changed on throws both found ({len(diff.storeys)}: {closer.count('better')} closer to the "
               f"truth, {closer.count('worse')} further)")
    for c, how in zip(diff.storeys, closer, strict=True):
        out.append(f"  {c.scene} throw {c.throw}: truth {c.truth}, {c.before} → {c.after} ({how}; "
                   f"P(truth) {c.p_truth_before:.2f} → {c.p_truth_after:.2f})")
    if diff.isolation:
        out.append("")
        out.append("false alarms on isolation scenes changed: "
                   + ", ".join(f"{kind} {b} → {a}" for kind, b, a in diff.isolation))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path, help="falling_bench --json report of the reference run")
    ap.add_argument("after", type=Path, help="falling_bench --json report of the changed run, same scenes")
    args = ap.parse_args(argv)
    try:
        diff = compare(load_report(args.before), load_report(args.after))
    except ReportError as exc:
        print(f"falling_diff: {exc}", file=sys.stderr)
        return 2
    print(render(diff, args.before.stem, args.after.stem))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
