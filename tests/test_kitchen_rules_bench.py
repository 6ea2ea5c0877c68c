"""The kitchen rules benchmark's event matching, strict and with borderline cases set aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.environment import cpu, versions
from benchmarks.kitchen_rules_bench import score_clip

PERSON_BOX = [100.0, 100.0, 160.0, 300.0]


def truth(violations: list[dict[str, Any]], conditions: list[dict[str, Any]]) -> dict[str, Any]:
    frame = {"objects": [{"label": "person", "track_id": 1, "box": PERSON_BOX}]}
    return {"name": "clip", "fps": 25.0, "frames": [frame] * 500, "violations": violations,
            "conditions": conditions, "rules": {"missing_chef_hat_after_s": 4.0, "uncovered_bin_after_s": 5.0}}


def hat(start: float, end: float) -> dict[str, Any]:
    return {"type": "missing_chef_hat", "zone": "prep-1", "track_id": 1, "start_s": start, "end_s": end}


def event(t: float) -> dict[str, Any]:
    return {"type": "missing_chef_hat", "zone": "prep-1", "end": t, "boxes": [PERSON_BOX]}


KINDS = {"missing_chef_hat"}


def test_a_violation_ending_within_the_tolerance_after_its_alarm_is_not_required() -> None:
    short = {**hat(10.0, 14.3), "alarm_s": 14.0}  # bare for the dwell and 0.3 s more
    t = truth([short], [hat(10.0, 14.3)])
    strict = score_clip(t, [], KINDS)
    assert (strict.violations, len(strict.missed)) == (1, 1)
    tolerant = score_clip(t, [], KINDS, tolerance_s=0.5)
    assert (tolerant.violations, tolerant.borderline_violations, len(tolerant.missed)) == (0, 1, 0)
    # raised anyway: neither a hit nor a false event
    tolerant = score_clip(t, [event(14.1)], KINDS, tolerance_s=0.5)
    assert (tolerant.events, tolerant.matched, tolerant.borderline_events, len(tolerant.false_events)) == (0, 0, 1, 0)


def test_an_event_on_a_condition_just_short_of_the_dwell_is_borderline_and_others_stay_false() -> None:
    t = truth([], [hat(10.0, 13.7)])  # bare for 3.7 s of a 4-s dwell
    assert len(score_clip(t, [event(13.7)], KINDS).false_events) == 1
    tolerant = score_clip(t, [event(13.7)], KINDS, tolerance_s=0.5)
    assert (tolerant.events, tolerant.borderline_events, len(tolerant.false_events)) == (0, 1, 0)
    far = truth([], [hat(10.0, 12.0)])  # 2 s of 4: an event on it is false under any tolerance
    assert len(score_clip(far, [event(12.0)], KINDS, tolerance_s=0.5).false_events) == 1


def test_clear_violations_count_the_same_under_both() -> None:
    v = {**hat(2.0, 12.0), "alarm_s": 6.0}
    t = truth([v], [hat(2.0, 12.0)])
    for tol in (0.0, 0.5):
        sc = score_clip(t, [event(6.3), event(9.0)], KINDS, tolerance_s=tol)
        assert (sc.violations, sc.matched, sc.duplicates, sc.events) == (1, 1, 1, 2)


def test_environment_records_the_processor_and_its_int8_extensions(tmp_path: Path) -> None:
    """The int8 model's numbers depend on the processor's extensions (VNNI or not), so reports name them."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz\n"
                    "flags\t\t: fpu sse4_1 avx avx2 fma\n\nprocessor\t: 1\nmodel name\t: ignored\n")
    assert cpu(str(info)) == {"cpu": "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz", "cpu_flags": "avx2"}
    info.write_text("model name\t: AMD EPYC\nflags\t\t: avx2 avx512f avx512_vnni\n")
    assert cpu(str(info))["cpu_flags"] == "avx2 avx512f avx512_vnni"
    assert cpu(str(tmp_path / "missing"))["cpu_flags"] == "unknown"
    assert {"cpu", "cpu_flags", "onnxruntime"} <= set(versions())
