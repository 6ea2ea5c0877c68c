"""benchmarks.falling_diff: two falling_bench reports compared throw by throw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.falling_diff import ReportError, compare, load_report, main


def _floor(truth: str, physics: str, p_truth: float) -> dict[str, Any]:
    return {"truth": truth, "physics": physics, "p_truth": p_truth, "d_physics": int(physics) - int(truth)}


def _report(scenes: list[dict[str, Any]], iso_birds: int = 0, detected: int = 0) -> dict[str, Any]:
    main_figures = {"set": "3 scenes, seed 7", "throws": 4, "detected": detected, "false_alarms": 0, "hours": 0.008,
                    "floor": {"physics_exact": 0.5, "physics_within_1": 1.0, "mean_log_p_truth": -0.9}}
    return {"summary": {"main": main_figures, "isolation": {"birds": iso_birds, "rain": 0}},
            "scenes": [*scenes, {"name": "iso-birds-0", "detected": [], "false_alarms": [], "floors": []}]}


def _scene(name: str, detected: list[int], floors: list[dict[str, Any]], alarms: list[float],
           misses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "detected": detected, "floors": floors, "misses": misses or [],
            "false_alarms": [{"t": t, "blame": "birds", "t_end": t + 0.4, "points": 11, "confidence": 0.71,
                              "floor": "7"} for t in alarms]}


def _pair() -> tuple[dict[str, Any], dict[str, Any]]:
    before = _report([
        _scene("s_000", [0], [_floor("12", "12", 0.6)], [4.0],
               misses=[{"throw": 1, "floor": "30", "kind": "stone", "category": "no track on it"}]),
        _scene("s_001", [0], [_floor("5", "7", 0.1)], []),
        _scene("s_002", [0], [_floor("9", "9", 0.5)], [1.0, 8.0]),
    ], detected=3)
    after = _report([
        _scene("s_000", [1, 0], [_floor("30", "29", 0.3), _floor("12", "12", 0.7)], [4.3]),
        _scene("s_001", [0], [_floor("5", "5", 0.6)], [2.0]),
        _scene("s_002", [], [], [8.2],
               misses=[{"throw": 0, "floor": "9", "kind": "shoe", "category": "fragments only"}]),
    ], iso_birds=1, detected=3)
    return before, after


def test_gained_and_lost_throws_carry_the_other_runs_reason() -> None:
    diff = compare(*_pair())
    assert [(t.scene, t.throw, t.floor, t.kind, t.missed_because) for t in diff.gained] == [
        ("s_000", 1, "30", "stone", "no track on it")]
    assert [(t.scene, t.throw, t.floor, t.missed_because) for t in diff.lost] == [
        ("s_002", 0, "9", "fragments only")]


def test_false_alarms_are_matched_within_half_a_second() -> None:
    diff = compare(*_pair())
    # 4.0 → 4.3 and 8.0 → 8.2 are the same alarms; 2.0 is new, 1.0 is gone
    assert [(a.scene, a.t, a.blame) for a in diff.new_alarms] == [("s_001", 2.0, "birds")]
    assert [(a.scene, a.t, a.blame) for a in diff.gone_alarms] == [("s_002", 1.0, "birds")]
    assert diff.isolation == [("birds", 0, 1)]


def test_storeys_are_compared_by_throw_not_by_position_in_the_list() -> None:
    diff = compare(*_pair())
    # s_000's throw 0 is second in the after report, with the same storey: no change there
    assert [(c.scene, c.throw, c.before, c.after) for c in diff.storeys] == [("s_001", 0, "7", "5")]


def test_reports_of_different_sets_are_refused(tmp_path: Path) -> None:
    before, after = _pair()
    after["summary"]["main"]["set"] = "3 scenes, seed 8"
    with pytest.raises(ReportError, match="different sets"):
        compare(before, after)
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    (tmp_path / "c.json").write_text("[1, 2]")
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    with pytest.raises(ReportError, match="not a falling_bench --json report"):
        load_report(tmp_path / "c.json")


def test_the_command_prints_the_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, after = _pair()
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    assert main([str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == 0
    text = capsys.readouterr().out
    assert "throws found by after only (1)" in text
    assert "s_000 throw 1: storey 30, stone; before: no track on it" in text
    assert "s_001 throw 0: truth 5, 7 → 5 (better; P(truth) 0.10 → 0.60)" in text
    assert "birds 0 → 1" in text
    assert "s_001 2.00 s, to 2.40 s, 11 points, confidence 0.710, storey 7 (blamed on birds)" in text
