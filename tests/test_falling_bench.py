"""The falling benchmark's own logic: matching events to throws, parameter overrides, validation records."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.falling_bench import _matches, _verdict_record, falling_params
from edge.falling.tracker import Track
from edge.falling.validate import Verdict


def throw(visible_until_s: float) -> dict:
    """A throw falling straight down the image at 100 px/s from (300, 100), drawn every frame for 1 s, flagged
    visible only until ``visible_until_s`` (the generator's flag for a sub-pixel stone)."""
    t = np.arange(25) / 25.0
    return {"id": 0, "floor": "7", "track": [
        {"t": float(ti), "u": 300.0, "v": 100.0 + 100.0 * float(ti), "visible": bool(ti <= visible_until_s)}
        for ti in t]}


def test_an_event_is_matched_by_where_the_object_was_drawn_not_by_its_visible_flag() -> None:
    t = np.arange(25) / 25.0
    uv = np.column_stack([np.full(25, 301.0), 100.0 + 100.0 * t])
    assert _matches(t, uv, throw(visible_until_s=0.3), fps=25.0)  # 8 of 25 points at 'visible' times
    assert not _matches(t, uv + np.array([40.0, 0.0]), throw(visible_until_s=0.3), fps=25.0)


def test_parameter_overrides_parse_by_the_field_type_and_name_a_wrong_field() -> None:
    p = falling_params(("validation.min_points=11", "validation.max_rms_px=2.2", "walk_again=false",
                        "tracker.max_tracks=100"), look_back=False)
    assert p.validation.min_points == 11 and p.validation.max_rms_px == 2.2
    assert p.walk_again is False and p.tracker.max_tracks == 100 and p.look_back is False
    with pytest.raises(SystemExit, match="no field 'min_pointz'"):
        falling_params(("validation.min_pointz=3",))
    with pytest.raises(SystemExit, match=r"expected PART\.FIELD=VALUE"):
        falling_params(("validation.min_points",))


def test_a_validation_record_names_the_throw_the_track_lay_on() -> None:
    track = Track(1)
    for i in range(10):
        track.t.append(i / 25.0)
        track.u.append(300.0)
        track.v.append(100.0 + 4.0 * i)
        for name in ("area", "contrast", "length"):
            getattr(track, name).append(9.0)
    rec = _verdict_record(track, Verdict(False, "sparse", 0.0, 0.5, 0.3), [throw(1.0)], fps=25.0)
    assert rec["throw"] == 0 and rec["truth_floor"] == "7" and rec["on_truth"] == 1.0
    assert rec["points"] == 10 and rec["blob_px"] == 3.0 and "release" not in rec
    off = _verdict_record(track, Verdict(False, "sparse", 0.0, 0.5, 0.3), [throw(1.0) | {"track": [
        p | {"u": 400.0} for p in throw(1.0)["track"]]}], fps=25.0)
    assert off["throw"] is None and off["on_truth"] == 0.0


def test_a_throw_counts_as_shown_only_where_the_decoded_frames_differ_and_only_in_a_trackable_run() -> None:
    """A 1-px object drawn into frames 2–19 but erased by the encoder in frames 8–11 (no pixel differs there):
    shown in 14 frames, all of which one track could hold (the erased frames are a gap of 0.2 s, within the
    tracker's coast, and 14 of 18 frames is dense enough); not so with a shorter coast, or every third frame."""
    from benchmarks.falling_bench import ShownCounter
    from edge.falling.tracker import TrackerParams
    from edge.falling.validate import ValidationParams

    tracker, validation = TrackerParams(), ValidationParams()  # coasts 0.5 s; fill 0.6, 0.35 from 12 points

    fps = 25.0
    track = [{"t": i / fps, "u": 10.0 + 2 * i, "v": 20.0, "visible": True, "size_px": 1.0} for i in range(20)]
    counter = ShownCounter([{"id": 0, "track": track}], fps)
    for i in range(20):
        luma = np.full((40, 80), 100, np.uint8)
        if i >= 2 and not 8 <= i <= 11:
            luma[20, 10 + 2 * i] = 140  # drawn, and kept by the "encoder"
        counter.feed(i / fps, luma, threshold=6.0)
    assert counter.counts == {0: 14}
    assert counter.runs(tracker, validation) == {0: 14}
    # Erased for longer than the tracker coasts (0.5 s): the pieces are no longer one track.
    assert counter.runs(TrackerParams(coast_gap_s=0.1), validation) == {0: 8}
    # A sparse object (every third frame) is not a track either.
    sparse = ShownCounter([{"id": 0, "track": track}], fps)
    for i in range(20):
        luma = np.full((40, 80), 100, np.uint8)
        if i % 3 == 0:
            luma[20, 10 + 2 * i] = 140
        sparse.feed(i / fps, luma, threshold=6.0)
    assert sparse.counts[0] >= 5 and sparse.runs(tracker, validation)[0] <= 2
