"""Kitchen rules: the rule state machines, tracker, head association and floor points with exact expectations;
the detector fed scripted boxes (legitimate input data for the rules unit: no model is exercised there); the
model-free bin mode on a rendered sample clip; camera-file keys.

The end-to-end runs with the shipped model are in tests/test_analyze.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from benchmarks.kitchen_rules_bench import closed_reference
from edge.config import CameraConfig, KitchenRules, Zone, load_camera
from edge.frames import Frame, decode_frames, open_video
from edge.kitchen.appearance import Appearance, bhattacharyya, person_appearance
from edge.kitchen.bin_reference import BinReference
from edge.kitchen.detections import Boxes
from edge.kitchen.detector import KitchenDetector
from edge.kitchen.floor import FloorPoints
from edge.kitchen.gate import MotionGate, watch_mask
from edge.kitchen.heads import HatVote, HeadParams, assign_heads
from edge.kitchen.rules import BinSample, MissingHatRule, PersonSample, UncoveredBinRule
from edge.kitchen.tracker import HEAD_CLASS, PersonTracker
from edgewatch.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
KITCHEN = ROOT / "sample_videos" / "kitchen"
BOX = np.array([100.0, 100.0, 160.0, 300.0])


def person(t_id: int = 1, zones: tuple[str, ...] = ("prep-1",), hat: str | None = "no_hat", visible: bool = True,
           since: float | None = None) -> PersonSample:
    return PersonSample(t_id, BOX, (130.0, 290.0), frozenset(zones), hat, visible,  # type: ignore[arg-type]
                        0.8, "bare_head" if hat == "no_hat" else None, since)


def run_hat(rule: MissingHatRule, script: list[tuple[float, list[PersonSample]]]) -> list[tuple[float, float, int]]:
    out = []
    for t, people in script:
        out += [(a.start_s, a.t_s, a.track_id or 0) for a in rule.update(t, people)]
    return out


def samples(t0: float, t1: float, dt: float = 0.5) -> list[float]:
    return [round(t0 + k * dt, 6) for k in range(round((t1 - t0) / dt) + 1)]


# --- missing_chef_hat ----------------------------------------------------------------------------------------


def test_hat_alarm_after_the_dwell_once_per_stay() -> None:
    rule = MissingHatRule(after_s=3.0)
    alarms = run_hat(rule, [(t, [person()]) for t in samples(0.0, 20.0)])
    assert alarms == [(0.0, 3.0, 1)]  # at the first sample T after the condition began, and never again


def test_hat_dwell_not_reached_gives_nothing() -> None:
    rule = MissingHatRule(after_s=3.0)
    script = [(t, [person()]) for t in samples(0.0, 2.5)] + [(t, [person(hat="hat")]) for t in samples(3.0, 10.0)]
    assert run_hat(rule, script) == []


def test_hat_put_on_resets_the_condition() -> None:
    rule = MissingHatRule(after_s=3.0)
    script = ([(t, [person()]) for t in samples(0.0, 2.0)] + [(t, [person(hat="hat")]) for t in samples(2.5, 3.0)]
              + [(t, [person()]) for t in samples(3.5, 8.0)])
    assert run_hat(rule, script) == [(3.5, 6.5, 1)]


def test_hat_brief_occlusion_keeps_the_stay_and_its_timer() -> None:
    rule = MissingHatRule(after_s=3.0)
    script = ([(t, [person()]) for t in samples(0.0, 1.5)] + [(t, [person(visible=False)]) for t in samples(2.0, 3.5)]
              + [(t, [person()]) for t in samples(4.0, 12.0)])
    # The dwell ran on while hidden; the alarm waits for the person to be in view again (it needs their box).
    assert run_hat(rule, script) == [(0.0, 4.0, 1)]


def test_hat_leaving_and_coming_back_is_a_new_stay() -> None:
    rule = MissingHatRule(after_s=3.0, leave_grace_s=0.75)
    script = ([(t, [person()]) for t in samples(0.0, 5.0)] + [(t, [person(zones=())]) for t in samples(5.5, 7.0)]
              + [(t, [person()]) for t in samples(7.5, 12.0)])
    assert run_hat(rule, script) == [(0.0, 3.0, 1), (7.5, 10.5, 1)]


def test_hat_stepping_out_shorter_than_the_grace_is_the_same_stay() -> None:
    rule = MissingHatRule(after_s=3.0, leave_grace_s=0.75)
    script = ([(t, [person()]) for t in samples(0.0, 5.0)] + [(5.5, [person(zones=())])]
              + [(t, [person()]) for t in samples(6.0, 12.0)])
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]


def test_hat_track_lost_for_good_ends_the_stay() -> None:
    rule = MissingHatRule(after_s=3.0, inherit_s=3.0)
    script = ([(t, [person()]) for t in samples(0.0, 2.0)] + [(t, []) for t in samples(2.5, 5.5)]
              + [(t, [person(2)]) for t in samples(6.0, 10.0)])
    assert run_hat(rule, script) == [(6.0, 9.0, 2)]  # gone longer than inherit_s: a new stay began at 6.0


def test_hat_person_refound_under_a_new_id_keeps_their_stay() -> None:
    rule = MissingHatRule(after_s=3.0, inherit_s=3.0)
    script = ([(t, [person(1)]) for t in samples(0.0, 4.0)] + [(4.5, [])]
              + [(t, [person(7)]) for t in samples(5.0, 12.0)])
    # Track 1 raised at 3.0 and was lost; track 7 appears where it was: the same stay, no second event.
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]
    rule = MissingHatRule(after_s=3.0, inherit_s=3.0)
    script = [(t, [person(1)]) for t in samples(0.0, 2.0)] + [(t, [person(7)]) for t in samples(2.5, 6.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 7)]  # the dwell carried over too
    rule = MissingHatRule(after_s=3.0)
    script = ([(t, [person(1)]) for t in samples(0.0, 4.0)]
              + [(t, [person(1, visible=False), person(7)]) for t in samples(4.5, 6.0)] + [(6.5, [person(7)])])
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]  # track 1 still held, unseen: track 7 takes its stay over


def test_hat_refound_radius_is_half_the_whole_persons_height_when_a_counter_hides_the_legs() -> None:
    cut = np.array([100.0, 100.0, 160.0, 200.0])  # 100 px of a person whose feet are 200 px below the head
    rule = MissingHatRule(after_s=3.0, inherit_s=3.0)
    script = [(t, [PersonSample(1, cut, (130.0, 300.0), frozenset({"prep-1"}), "no_hat")]) for t in samples(0.0, 4.0)]
    script += [(4.5, [])]
    moved = cut + np.array([80.0, 0, 80.0, 0])
    script += [(t, [PersonSample(7, moved, (210.0, 300.0), frozenset({"prep-1"}), "no_hat")])
               for t in samples(5.0, 12.0)]
    # Re-found 80 px away: within half of their 200 px, so the same person and no second event.
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]


def test_hat_a_person_seen_elsewhere_does_not_take_over_a_hidden_persons_stay() -> None:
    def at(t_id: int, u: float, visible: bool = True, zones: tuple[str, ...] = ("prep-1",),
           hat: str = "no_hat") -> PersonSample:
        box = np.array([u - 30.0, 100.0, u + 30.0, 300.0])
        return PersonSample(t_id, box, (u, 290.0), frozenset(zones), hat, visible, 0.8, None, 0.0)  # type: ignore[arg-type]

    rule = MissingHatRule(after_s=3.0)
    # Person 1 stands bare-headed in the zone at u = 300 and is raised at 3.0; person 2, in a hat, is seen at the
    # same time 200 px away (a whole person's height), outside the zone.
    script = [(t, [at(1, 300.0), at(2, 100.0, zones=(), hat="hat")]) for t in samples(0.0, 3.0)]
    # Person 2 steps into the zone 40 px from person 1, who is hidden behind them for a sample, then seen again.
    script += [(3.5, [at(1, 300.0, visible=False), at(2, 260.0, hat="hat")])]
    script += [(t, [at(1, 300.0), at(2, 220.0, hat="hat")]) for t in samples(4.0, 8.0)]
    # Person 2 is not person 1 re-found: person 1 keeps their stay, and is not raised a second time at 7.0.
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]


def test_hat_refound_person_is_judged_where_they_reappeared_not_where_the_track_was_confirmed() -> None:
    def at(t_id: int, u: float, visible: bool = True, confirmed: bool = True) -> PersonSample:
        box = np.array([u - 30.0, 100.0, u + 30.0, 300.0])
        return PersonSample(t_id, box, (u, 290.0), frozenset({"prep-1"}), "no_hat", visible, 0.8, None, 0.0,
                            confirmed=confirmed)

    rule = MissingHatRule(after_s=3.0)
    # Person 1 (200 px tall) is raised at 3.0 and hidden at u = 300; they reappear under a new id 80 px away,
    # walking on: when the tracker confirms the new track a sample later they are 120 px from where they were
    # lost, more than half their height.
    script = [(t, [at(1, 300.0)]) for t in samples(0.0, 3.0)] + [(3.5, [at(1, 300.0, visible=False)])]
    script += [(4.0, [at(1, 300.0, visible=False), at(7, 220.0, confirmed=False)])]
    script += [(4.5, [at(1, 300.0, visible=False), at(7, 180.0)])]
    script += [(t, [at(7, 180.0 - 10 * (t - 4.5))]) for t in samples(5.0, 8.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]  # not also (4.0, 7.0, 7): the same stay, raised once


def test_hat_identity_switch_to_an_existing_track_raises_no_second_event() -> None:
    def at(t_id: int, u: float, hat: str, visible: bool = True) -> PersonSample:
        return PersonSample(t_id, BOX, (u, 290.0), frozenset({"prep-1"}), hat, visible)  # type: ignore[arg-type]

    rule = MissingHatRule(after_s=3.0)
    script = [(t, [at(1, 130.0, "no_hat"), at(5, 600.0, "hat")]) for t in samples(0.0, 3.5)]
    # The tracker swaps: track 5 now follows person 1 (track 1 unseen), and person 5 is not detected.
    script += [(t, [at(1, 130.0, "no_hat", visible=False), at(5, 140.0, "no_hat")]) for t in samples(4.0, 8.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]


def test_hat_an_alarm_of_a_stay_the_person_left_does_not_silence_their_next_stay() -> None:
    def at(t_id: int, zones: tuple[str, ...] = ("prep-1",), visible: bool = True, since: float = 0.0) -> PersonSample:
        return PersonSample(t_id, BOX, (130.0, 290.0), frozenset(zones), "no_hat", visible,  # type: ignore[arg-type]
                            0.8, "bare_head", since)

    rule = MissingHatRule(after_s=3.0)
    script = [(t, [at(1)]) for t in samples(0.0, 3.5)]  # raised at 3.0
    script += [(t, [at(1, zones=())]) for t in samples(4.0, 6.0)]  # leaves the zone: that stay is over
    script += [(6.5, [at(1)]), (7.0, [at(1, visible=False)])]  # back: a new stay, then hidden a moment
    # The tracker finds them again under a new id, which takes the hidden track's new stay over: raised again
    # (the alarm of the first stay is not theirs to inherit).
    script += [(t, [at(1, visible=False), at(9, since=7.5)]) for t in samples(7.5, 9.0)]
    script += [(t, [at(9, since=7.5)]) for t in samples(9.5, 11.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1), (6.5, 9.5, 9)]


def test_hat_someone_who_walked_over_to_where_a_raised_person_was_lost_is_raised_too() -> None:
    def at(t_id: int, u: float, visible: bool = True, since: float = 0.0) -> PersonSample:
        box = np.array([u - 30.0, 100.0 + 20 * t_id, u + 30.0, 300.0])  # two people: one a little further back
        return PersonSample(t_id, box, (u, 290.0), frozenset({"prep-1"}), "no_hat", visible,  # type: ignore[arg-type]
                            0.8, "bare_head", since)

    rule = MissingHatRule(after_s=3.0)
    # Person 1 raises at 3.0 at u = 130 and is lost from sight after 3.5; person 2, in view at u = 600 then,
    # bare-headed since 3.0, walks over to where person 1 was: a second person, not person 1 re-found (a swap
    # would have put track 2 there at once).
    script = [(t, [at(1, 130.0)]) for t in samples(0.0, 2.5)]
    script += [(t, [at(1, 130.0), at(2, 600.0, since=3.0)]) for t in samples(3.0, 3.5)]
    script += [(t, [at(1, 130.0, visible=False), at(2, max(200.0, 600.0 - 230.0 * (t - 3.5)), since=3.0)])
               for t in samples(4.0, 6.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1), (3.0, 6.0, 2)]


def test_hat_stay_counts_from_the_first_sighting_before_the_track_is_confirmed() -> None:
    rule = MissingHatRule(after_s=3.0)
    unconfirmed = PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, 0.8, "bare_head",
                               0.0, confirmed=False)
    script = [(0.0, [unconfirmed])] + [(t, [person(since=0.0)]) for t in samples(0.5, 5.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1)]  # not (0.5, 3.5): the tracker saw them in the zone at 0.0
    rule = MissingHatRule(after_s=3.0)
    outside = PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, confirmed=False)
    script = [(0.0, [outside]), (0.5, [person(zones=())])] + [(t, [person(since=0.0)]) for t in samples(1.0, 5.0)]
    assert run_hat(rule, script) == [(1.0, 4.0, 1)]  # out of the zone when confirmed: the stay begins on entry


def test_hat_stay_judged_again_begins_when_the_earlier_boxes_were_already_in_the_zone() -> None:
    # Someone first seen behind a counter, bare-headed since 0.5 s, was placed outside the zone until the camera
    # learnt how tall people look (at 4.0 s); judged again, their boxes were in the zone from 1.0 s on.
    rule = MissingHatRule(after_s=3.0)
    outside = [(t, [person(zones=(), since=0.5)]) for t in samples(0.5, 3.5)]
    rejudged = PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, 0.8, "bare_head", 3.0,
                            zones_since={"prep-1": 1.0}, bare_since_s=0.5)
    later = [(t, [person(since=3.0)]) for t in samples(4.5, 8.0)]
    assert run_hat(rule, [*outside, (4.0, [rejudged]), *later]) == [(1.0, 4.0, 1)]
    # Without the second judgement the stay begins at 4.0, and the condition with it.
    rule = MissingHatRule(after_s=3.0)
    plain = PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, 0.8, "bare_head", 3.0)
    assert run_hat(rule, [*outside, (4.0, [plain]), *later]) == [(4.0, 7.0, 1)]
    # A stay not dated back times its condition from the vote's onset, not the track's whole no-hat run (which
    # may have begun outside the zone, or as another person before an identity swap).
    # Here track 2 takes over the stay of track 1 (hat on, since 0.0), hidden where track 2 appears bare-headed.
    rule = MissingHatRule(after_s=3.0)
    first = [(t, [person(1, hat="hat")]) for t in samples(0.0, 2.0)]
    hidden = person(1, hat="hat", visible=False)
    swapped = [(t, [hidden, PersonSample(2, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, 0.8,
                                         "bare_head", 2.5, bare_since_s=0.0)]) for t in samples(2.5, 7.0)]
    # (raised 1 s late: the hidden track shares the box). Not (0.0, 4.0): its run began as another person.
    assert run_hat(rule, first + swapped) == [(2.5, 6.5, 2)]
    # A hat seen after the entry they were judged to have made still resets the condition: timed from 2.0.
    rule = MissingHatRule(after_s=3.0)
    rejudged_late = PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"}), "no_hat", True, 0.8, "bare_head",
                                 2.0, zones_since={"prep-1": 1.0}, bare_since_s=2.0)
    assert run_hat(rule, [*outside, (4.0, [rejudged_late]), *later]) == [(2.0, 5.0, 1)]


def test_hat_stay_judged_again_into_the_last_stay_resumes_it_and_raises_nothing_twice() -> None:
    def at(t: float, inside: bool = True, since: float | None = None) -> tuple[float, list[PersonSample]]:
        return t, [PersonSample(1, BOX, (130.0, 290.0), frozenset({"prep-1"} if inside else ()), "no_hat",
                                True, 0.8, "bare_head", 0.0, zones_since={"prep-1": since} if since is not None else {},
                                bare_since_s=0.0)]

    # Raised at 3.0; the live floor points then put the person (behind a counter) out of the zone for 1.5 s,
    # longer than the grace, so the stay ends. Back in at 5.5, their boxes judged again say they never left
    # (in the zone since 0.0, before the stay ended): the same stay goes on and raises nothing.
    stay = [at(t) for t in samples(0.0, 3.5)] + [at(t, inside=False) for t in samples(4.0, 5.0)]
    assert run_hat(MissingHatRule(after_s=3.0), [*stay, *[at(t, since=0.0) for t in samples(5.5, 9.0)]]) == \
        [(0.0, 3.0, 1)]
    # Judged again to have come back at 5.0, after the stay ended: a new stay, and a new event.
    back = [at(5.5, since=5.0)] + [at(t) for t in samples(6.0, 9.0)]
    assert run_hat(MissingHatRule(after_s=3.0), [*stay, *back]) == [(0.0, 3.0, 1), (5.0, 8.0, 1)]


def test_hat_person_walking_behind_one_who_raised_does_not_silence_them() -> None:
    def at(t_id: int, u: float, visible: bool = True, since: float = 0.0) -> PersonSample:
        box = np.array([u - 30.0 + 200.0 * (t_id == 1), 100.0, u + 30.0 + 200.0 * (t_id == 1), 300.0])
        return PersonSample(t_id, box, (u, 290.0), frozenset({"prep-1"}), "no_hat", visible,  # type: ignore[arg-type]
                            0.8, "bare_head", since)

    rule = MissingHatRule(after_s=3.0)
    # Person 1 raises at 3.0 and walks on towards person 2, who has stood bare-headed at u = 130 since 1.0, and
    # is hidden behind them at 4.0, last seen 30 px from them: person 2 is still raised at 4.0.
    script = [(t, [at(1, 400.0 - 50 * t, since=0.0)]) for t in samples(0.0, 0.5)]
    script += [(t, [at(1, 400.0 - 50 * t, since=0.0), at(2, 130.0, since=1.0)]) for t in samples(1.0, 3.5)]
    script += [(t, [at(1, 225.0, visible=False), at(2, 130.0, since=1.0)]) for t in samples(4.0, 5.0)]
    assert run_hat(rule, script) == [(0.0, 3.0, 1), (1.0, 4.0, 2)]


def test_hat_alarm_waits_a_sample_while_an_unseen_track_shares_the_box() -> None:
    def at(t_id: int, visible: bool = True, hat: str = "no_hat") -> PersonSample:
        return PersonSample(t_id, BOX, (130.0 + 300 * (t_id - 1), 290.0), frozenset({"prep-1"}), hat,  # type: ignore[arg-type]
                            visible, 0.8, None, 0.0)

    rule = MissingHatRule(after_s=3.0)
    # At 3.0 track 2 is hidden behind track 1 and only one box is seen: it may be either person's.
    script = [(t, [at(1), at(2, hat="hat")]) for t in samples(0.0, 2.5)]
    script += [(3.0, [at(1), at(2, visible=False, hat="hat")]), (3.5, [at(1), at(2, hat="hat")])]
    assert run_hat(rule, script) == [(0.0, 3.5, 1)]
    rule = MissingHatRule(after_s=3.0, max_defer_s=1.0)
    script = [(t, [at(1), at(2, hat="hat")]) for t in samples(0.0, 2.5)]
    script += [(t, [at(1), at(2, visible=False, hat="hat")]) for t in samples(3.0, 5.0)]
    assert run_hat(rule, script) == [(0.0, 4.0, 1)]  # waits at most max_defer_s


def test_hat_condition_timed_from_when_it_was_first_seen() -> None:
    rule = MissingHatRule(after_s=3.0)
    # The vote tipped at 1.0 but the bare head was first seen at 0.5; the stay began at 0.0.
    script = [(0.0, [person(hat="hat")]), (0.5, [person(hat="hat")])]
    script += [(t, [person(since=0.5)]) for t in samples(1.0, 6.0)]
    assert run_hat(rule, script) == [(0.5, 3.5, 1)]


def test_hat_two_people_two_events_in_two_zones() -> None:
    rule = MissingHatRule(after_s=2.0)
    script = [(t, [person(1), person(2, zones=("prep-2",))]) for t in samples(0.0, 4.0)]
    alarms = []
    for t, people in script:
        alarms += [(a.track_id, a.zone, a.t_s) for a in rule.update(t, people)]
    assert alarms == [(1, "prep-1", 2.0), (2, "prep-2", 2.0)]


# --- uncovered_bin -------------------------------------------------------------------------------------------


def run_bin(rule: UncoveredBinRule, script: Sequence[tuple[float, str | None, bool]]) -> list[tuple[float, float]]:
    out = []
    for t, state, used in script:
        out += [(a.start_s, a.t_s) for a in rule.update(t, [BinSample("bin-1", state, used, BOX)])]  # type: ignore[arg-type]
    return out


def test_bin_open_unattended_for_the_dwell_is_one_event() -> None:
    rule = UncoveredBinRule(after_s=5.0)
    assert run_bin(rule, [(t, "open", False) for t in samples(0.0, 20.0)]) == [(0.0, 5.0)]


def test_bin_opened_briefly_while_used_is_no_event() -> None:
    rule = UncoveredBinRule(after_s=5.0)
    script = ([(t, "closed", False) for t in samples(0.0, 2.0)] + [(t, "open", True) for t in samples(2.5, 9.0)]
              + [(t, "closed", False) for t in samples(9.5, 20.0)])
    assert run_bin(rule, script) == []


def test_bin_left_open_after_use_counts_from_when_the_user_left() -> None:
    rule = UncoveredBinRule(after_s=5.0)
    script = [(t, "open", True) for t in samples(0.0, 3.0)] + [(t, "open", False) for t in samples(3.5, 12.0)]
    assert run_bin(rule, script) == [(3.5, 8.5)]


def test_bin_closed_and_reopened_is_a_new_event_and_unseen_samples_change_nothing() -> None:
    rule = UncoveredBinRule(after_s=2.0)
    script = ([(t, "open", False) for t in samples(0.0, 3.0)] + [(3.5, None, False)]
              + [(t, "closed", False) for t in samples(4.0, 5.0)] + [(t, "open", False) for t in samples(5.5, 9.0)])
    assert run_bin(rule, script) == [(0.0, 2.0), (5.5, 7.5)]


# --- tracker, heads, floor points ----------------------------------------------------------------------------


def boxes(*rows: tuple[float, float, float, float], score: float = 0.9) -> Boxes:
    return Boxes.of(np.array(rows, float).reshape(-1, 4), [score] * len(rows), ["person"] * len(rows))


def test_tracker_keeps_ids_of_two_people_walking_past_each_other() -> None:
    tr = PersonTracker()
    ids = []
    for k in range(12):  # at 3 samples/s, 25 px a sample: little overlap between a person's successive boxes
        a = (100 + 25 * k, 100, 160 + 25 * k, 300)
        b = (500 - 25 * k, 110, 560 - 25 * k, 310)
        tr.update(k / 3, boxes(a, b))
        live = sorted(tr.tracks, key=lambda t: t.box[0])
        ids.append(tuple(t.track_id for t in live if t.t_s == k / 3))
    assert ids[0] == (1, 2) and ids[4] == (1, 2)
    assert ids[-1] == (2, 1)  # crossed: the left one is now person 2


def test_tracker_bridges_a_short_loss_and_forgets_after_max_lost() -> None:
    tr = PersonTracker()
    for k in range(3):
        tr.update(k * 0.5, boxes((100, 100, 160, 300)))
    tr.update(1.5, boxes())
    tr.update(2.0, boxes())
    tr.update(2.5, boxes((104, 100, 164, 300)))
    assert [t.track_id for t in tr.tracks] == [1]
    tr.update(5.0, boxes())
    assert tr.tracks == []
    tr.update(5.5, boxes((104, 100, 164, 300)))
    assert [t.track_id for t in tr.tracks] == [2]


def test_tracker_weak_box_only_extends_a_track() -> None:
    tr = PersonTracker()
    tr.update(0.0, boxes((100, 100, 160, 300), score=0.3))
    assert tr.tracks == []  # a weak box starts nothing
    tr.update(0.5, boxes((100, 100, 160, 300)))
    tr.update(1.0, boxes((102, 100, 162, 300)))
    tr.update(1.5, boxes((104, 100, 164, 300), score=0.3))  # half hidden: still the same person
    (track,) = tr.tracks
    assert track.track_id == 1 and track.t_s == 1.5


def test_tracker_gives_the_box_at_a_crossing_to_the_track_whose_head_it_has() -> None:
    # Person 1 (chef hat) and person 2 (bare head) stand side by side; then one of them is hidden behind the
    # other and a single box is seen, overlapping person 1's place more, with a bare head on it: person 2's.
    hat, bare = np.array([HEAD_CLASS["chef_hat"], HEAD_CLASS["bare_head"]]), np.array([HEAD_CLASS["bare_head"]])
    crossing = (120, 100, 180, 300)
    tr = PersonTracker()
    for t in (0.0, 0.4, 0.8):
        tr.update(t, boxes((100, 100, 160, 300), (150, 100, 210, 300)), hat)
    assert [t.track_id for t in tr.update(1.2, boxes(crossing), bare)] == [2]
    # By overlap alone (no heads known) it would have gone to person 1, and their tracks would be swapped.
    tr = PersonTracker()
    for t in (0.0, 0.4, 0.8):
        tr.update(t, boxes((100, 100, 160, 300), (150, 100, 210, 300)))
    assert [t.track_id for t in tr.update(1.2, boxes(crossing))] == [1]
    # Someone alone who takes their hat off keeps their track: the heads only choose between candidates.
    tr = PersonTracker()
    for t in (0.0, 0.4, 0.8):
        tr.update(t, boxes((100, 100, 160, 300)), np.array([HEAD_CLASS["chef_hat"]]))
    assert [t.track_id for t in tr.update(1.2, boxes((104, 100, 164, 300)), bare)] == [1]


def test_tracker_tells_a_cook_in_a_cap_from_a_bare_headed_one_at_a_crossing() -> None:
    # Neither wears a chef hat: person 1 is bare-headed, person 2 wears a cap (other headwear). One box is seen
    # at the crossing, overlapping person 1's place more, with a cap on it: person 2's.
    bare, cap = HEAD_CLASS["bare_head"], HEAD_CLASS["other_headwear"]
    tr = PersonTracker()
    for t in (0.0, 0.4, 0.8):
        tr.update(t, boxes((100, 100, 160, 300), (150, 100, 210, 300)), np.array([bare, cap]))
    assert [t.track_id for t in tr.update(1.2, boxes((120, 100, 180, 300)), np.array([cap]))] == [2]


def test_appearance_tells_two_people_apart_and_ignores_what_is_below_the_chest() -> None:
    img = np.full((400, 400, 3), 90, np.uint8)
    img[100:200, 100:160] = (40, 40, 200)  # person 1: red top
    img[200:300, 100:160] = (200, 200, 200)  # ... white trousers, or a counter
    img[100:200, 250:310] = (200, 120, 30)  # person 2: blue top
    img[200:300, 250:310] = (30, 30, 30)
    app = person_appearance(img, np.array([[100, 100, 160, 300], [250, 100, 310, 300], [100, 100, 160, 250]], float))
    d = bhattacharyya(app.hist, app.hist)
    assert d[0, 1] > 0.9 and d[0, 2] < 0.05  # the lower half of the box does not count
    assert np.allclose(app.hist.sum(axis=1), 1.0) and app.clean.tolist() == [False, True, False]
    # Bhattacharyya distance of two histograms worked by hand: sqrt(1 - (sqrt(.5 * .5) + 0)) = sqrt(0.5).
    assert bhattacharyya(np.array([[0.5, 0.5, 0.0]]), np.array([[0.5, 0.0, 0.5]]))[0, 0] == pytest.approx(0.5**0.5)


def test_tracker_gives_the_box_at_a_crossing_to_the_track_whose_colours_it_has() -> None:
    # Two bare-headed people, person 1 in red, person 2 in blue, side by side; then one box is seen, overlapping
    # person 1's place more, in blue: person 2 in front. Heads cannot tell (both bare); the colours can.
    img = np.full((400, 400, 3), 90, np.uint8)
    left, right, crossing = (100, 100, 160, 300), (150, 100, 210, 300), (120, 100, 180, 300)
    bare2, bare1 = np.full(2, HEAD_CLASS["bare_head"]), np.full(1, HEAD_CLASS["bare_head"])

    def colours(rows: list[tuple[int, int, int, int]], bgr: list[tuple[int, int, int]]) -> Appearance:
        im = img.copy()
        for (x1, y1, x2, y2), c in zip(rows, bgr, strict=True):
            im[y1:y2, x1:x2] = c
        app = person_appearance(im, np.array(rows, float))
        return Appearance(app.hist, np.ones(len(rows), bool))  # side by side, each seen whole

    red, blue = (40, 40, 200), (200, 120, 30)
    for with_colours, owner in ((True, 2), (False, 1)):  # by overlap alone it goes to person 1: a swap
        tr = PersonTracker()
        for t in (0.0, 0.4, 0.8):
            tr.update(t, boxes(left, right), bare2, colours([left, right], [red, blue]) if with_colours else None)
        seen = colours([crossing], [blue]) if with_colours else None
        assert [t.track_id for t in tr.update(1.2, boxes(crossing), bare1, seen)] == [owner]
    # Someone alone whose colours change (an apron put on) keeps their track: colours only choose.
    tr = PersonTracker()
    for t in (0.0, 0.4, 0.8):
        tr.update(t, boxes(left), bare1, colours([left], [red]))
    assert [t.track_id for t in tr.update(1.2, boxes(left), bare1, colours([left], [blue]))] == [1]


def test_heads_pair_with_the_person_whose_top_holds_them() -> None:
    persons = np.array([[100, 100, 200, 400], [150, 80, 260, 420]], float)
    heads = Boxes.of([[215, 82, 245, 120], [130, 102, 165, 140], [300, 50, 320, 70]], [0.9, 0.8, 0.9],
                     ["chef_hat", "bare_head", "bare_head"])
    assert assign_heads(persons, heads, HeadParams()) == {0: 1, 1: 0}  # the third head belongs to no one


def test_heads_a_head_behind_a_persons_shoulder_is_not_theirs() -> None:
    # A bare-headed person (box from their own head's top) with, wholly inside their top part, the chef hat of
    # someone standing behind them whose body is hidden (no person box): both heads have the full share.
    persons = np.array([[553, 98, 641, 292]], float)
    heads = Boxes.of([[582, 102, 598, 126], [591, 98, 620, 148]], [0.9, 0.9], ["chef_hat", "bare_head"])
    assert assign_heads(persons, heads, HeadParams()) == {0: 1}


def test_hat_vote_survives_one_missed_hat() -> None:
    vote = HatVote(window=3)
    for t, label in [(0.0, "chef_hat"), (0.5, "chef_hat"), (1.0, "bare_head"), (1.5, "chef_hat")]:
        vote.add(label, 0.8, t)
        assert vote.state == "hat"
    vote.add("bare_head", 0.8, 2.0)
    vote.add("bare_head", 0.8, 2.5)
    assert vote.state == "no_hat" and vote.since_s == 2.0


def test_floor_point_of_a_person_walking_behind_a_counter_stays_at_the_feet() -> None:
    fp = FloorPoints(image_height=540)
    assert fp.point(1, np.array([100, 100, 160, 300.0]), 0.0) == (130.0, 290.0)  # bottom − 5 % of the height
    u, v = fp.point(1, np.array([104, 102, 164, 302.0]), 0.5)
    assert (u, v) == (134.0, 292.0)
    u, v = fp.point(1, np.array([108, 104, 168, 220.0]), 1.0)  # legs hidden: the bottom jumped up 82 px
    assert v == pytest.approx(104 + 200.0 - 10.0, abs=0.01)
    u, v = fp.point(1, np.array([112, 106, 172, 306.0]), 1.5)  # legs back
    assert v == pytest.approx(306 - 10.0, abs=0.01)


def test_floor_point_of_a_cook_standing_at_a_counter_for_long_stays_at_the_feet() -> None:
    fp = FloorPoints(image_height=540)
    fp.point(1, np.array([100, 100, 160, 300.0]), 0.0)
    fp.point(1, np.array([102, 100, 162, 220.0]), 0.5)  # walks up to the counter: legs hidden
    for t in np.arange(1.0, 60.0, 0.5):  # and works there a minute, hidden from the waist down
        _, v = fp.point(1, np.array([102, 100, 162, 220.0]), float(t))
        assert v == pytest.approx(100 + 0.95 * 200.0, abs=0.5)


def teach_whole_people(fp: FloorPoints, heads: bool = False) -> None:
    """The camera's people, seen whole: 50 boxes (tracks 100–149) of height 0.8 (top − 20) for tops 100–300 at
    five columns, so the person-height plane's horizon is at row 20 (104 px for a head at row 150); with
    ``heads``, each with a bare head a quarter of its height (4 heads tall)."""
    tops_cols = [(top, u) for top in np.linspace(100.0, 300.0, 10) for u in (100.0, 400.0, 700.0, 800.0, 900.0)]
    for k, (top, u) in enumerate(tops_cols):
        h = 0.8 * (top - 20)
        head = np.array([u - 10, top, u + 10, top + h / 4]) if heads else None
        fp.point(100 + k, np.array([u - 30, top, u + 30, top + h]), 0.0, head, "bare_head" if heads else None)


def test_floor_point_behind_a_counter_ends_when_the_box_regains_the_height_scaled_to_the_head() -> None:
    fp = FloorPoints(image_height=540)
    # The camera's people: whole boxes of height 0.8 (top − 20), so the horizon is at row 20.
    teach_whole_people(fp)
    # A short person, h = 0.7 (top − 20): whole at top 250 (161 px), then behind a counter.
    fp.point(1, np.array([400.0, 250.0, 460.0, 411.0]), 1.0)
    fp.point(1, np.array([400.0, 240.0, 460.0, 330.0]), 1.5)
    # Walked away and out from behind it: whole again at top 150, 91 px, well under the 161 remembered nearer
    # the camera (and under 0.9 of the camera's 104 there) but the whole person (161 × 130 / 230): the spell
    # is over, and the camera learns from the box as from any whole person's.
    learnt = len(fp.heights._rows)
    _, v = fp.point(1, np.array([400.0, 150.0, 460.0, 241.0]), 2.0)
    assert v == pytest.approx(241 - 0.05 * 91, abs=0.5)
    assert len(fp.heights._rows) == learnt + 1


def test_floor_point_of_a_person_whose_head_the_top_edge_cuts_is_held_while_a_counter_hides_the_legs() -> None:
    fp = FloorPoints(image_height=540)
    # Walking away under the top edge (head cut off): the bottom rises 20 px a sample, the top stays at 0.
    for k, t in enumerate((0.0, 0.5, 1.0)):
        _, v = fp.point(1, np.array([300, 0, 380, 230.0 - 20 * k]), t)
    assert v == pytest.approx(190 - 0.05 * 190)
    # Behind a counter: the bottom jumps 76 px up, far beyond its own 20 px a sample. The top says nothing, so
    # the floor row is held where it was, while they move along the counter.
    for t, x in ((1.5, 340.0), (2.0, 380.0), (2.5, 420.0)):
        u, v = fp.point(1, np.array([x, 0, x + 80, 114.0]), t)
        assert (u, v) == pytest.approx((x + 40, 180.5))
    # Out from behind it: the bottom is back down, and the box is the person again.
    _, v = fp.point(1, np.array([420, 0, 500, 196.0]), 3.0)
    assert v == pytest.approx(196 - 0.05 * 196)


def test_floor_point_behind_a_counter_scales_the_remembered_height_to_where_the_head_is() -> None:
    fp = FloorPoints(image_height=540)
    # The camera's people: whole boxes of height 0.8 (top − 20), so the horizon is at row 20.
    teach_whole_people(fp)
    # A tall person, h = 0.9 (top − 20): whole at top 200 (h 162), then walking away behind a counter: at top
    # 150 only 70 px of them show. Their height there is 162 × (150 − 20) / (200 − 20) = 117, not the 162
    # remembered nearer the camera (nor the camera's 104 for an average person).
    fp.point(1, np.array([400.0, 200.0, 460.0, 362.0]), 1.0)
    _, v = fp.point(1, np.array([400.0, 150.0, 460.0, 220.0]), 1.5)
    assert v == pytest.approx(150 + 0.95 * 117.0, abs=1.5)
    # A short person, h = 0.7 (top − 20): 126 px at top 200, 91 at top 150, where the camera's average is 104.
    fp.point(2, np.array([600.0, 200.0, 660.0, 326.0]), 1.0)
    _, v = fp.point(2, np.array([600.0, 150.0, 660.0, 200.0]), 1.5)
    assert v == pytest.approx(150 + 0.95 * 91.0, abs=1.5)


def test_floor_point_estimate_uses_the_person_height_plane_learnt_since() -> None:
    fp = FloorPoints(image_height=540)
    short = np.array([400.0, 150.0, 460.0, 200.0])  # someone behind a counter: only the top 50 px show
    assert fp.estimate(short) == pytest.approx((430.0, 197.5))  # nothing learnt yet: the box is the person
    teach_whole_people(fp)
    assert fp.estimate(short) == pytest.approx((430.0, 150.0 + 0.95 * 0.8 * 130.0), abs=0.5)


def test_floor_point_estimate_trusts_a_box_whole_for_its_head_over_the_plane() -> None:
    # The camera's people: whole boxes of height 0.8 (top − 20), 104 px for a head at row 150, and 4 heads tall.
    fp = FloorPoints(image_height=540)
    teach_whole_people(fp, heads=True)
    assert fp.heads.ratio == pytest.approx(4.0)
    # A short whole person (70 px, a 17.5 px head), under 0.75 of the plane's 104: the plane alone takes them for
    # someone behind a counter; their head says they are whole (judged so live, and so judged again).
    short = np.array([400.0, 150.0, 460.0, 220.0])
    head = np.array([420.0, 150.0, 440.0, 167.5])
    assert fp.estimate(short)[1] == pytest.approx(150.0 + 0.95 * 104.0, abs=0.5)
    assert fp.estimate(short, head, "bare_head")[1] == pytest.approx(220.0 - 0.05 * 70.0)
    assert fp.point(1, short, 1.0, head, "bare_head")[1] == pytest.approx(220.0 - 0.05 * 70.0)
    # Short for its head (a 30 px head: 120 px of person): judged again, the plane decides, as without a head.
    tall_head = np.array([415.0, 150.0, 445.0, 180.0])
    assert fp.estimate(short, tall_head, "bare_head")[1] == pytest.approx(150.0 + 0.95 * 104.0, abs=0.5)


def test_floor_point_one_person_teaches_no_head_ratio() -> None:
    # The only bare-headed cook in view stands behind a counter all the while: their boxes are short for their
    # head, and a ratio learnt from them alone would pass the same boxes as whole.
    fp = FloorPoints(image_height=540)
    for k in range(30):
        fp.point(1, np.array([400.0, 100.0, 460.0, 210.0]), k / 3, np.array([415.0, 100.0, 445.0, 145.0]),
                 "bare_head")
    assert fp.heads.ratio is None
    fp.point(2, np.array([600.0, 100.0, 660.0, 280.0]), 10.0, np.array([615.0, 100.0, 645.0, 145.0]), "bare_head")
    assert fp.heads.ratio is not None


def test_floor_point_of_someone_seen_stepping_out_from_behind_a_counter_trusts_their_own_box() -> None:
    fp = FloorPoints(image_height=540)
    # The camera's people: whole boxes of height 0.8 (top − 20), 104 px for a head at row 150.
    teach_whole_people(fp)
    # A short person first seen behind a counter (40 px show): placed by the plane's 104 px.
    _, v = fp.point(1, np.array([400.0, 150.0, 460.0, 190.0]), 1.0)
    assert v == pytest.approx(150 + 0.95 * 104.0, abs=0.5)
    # They step out: the bottom drops 32 px, the top stays. Their whole box is 72 px, under 0.75 of the plane's
    # 104, yet it is the person (the plane is the camera's average): the feet are at its bottom.
    _, v = fp.point(1, np.array([400.0, 150.0, 460.0, 222.0]), 1.5)
    assert v == pytest.approx(222 - 0.05 * 72, abs=0.5)
    _, v = fp.point(1, np.array([404.0, 152.0, 464.0, 225.0]), 2.0)
    assert v == pytest.approx(225 - 0.05 * 73, abs=0.5)
    # Behind the counter again (the bottom jumps up): an occluded spell, their own height carried on.
    _, v = fp.point(1, np.array([408.0, 152.0, 468.0, 190.0]), 2.5)
    assert v > 215
    # Someone else steps out the same way, then walks up to the counter: the top comes down 4 px while the
    # counter's edge takes 2 px off the bottom (66 px: still 0.9 of their height). No whole person shrinks so:
    # the plane judges the box again.
    fp.point(2, np.array([600.0, 150.0, 660.0, 190.0]), 1.0)
    fp.point(2, np.array([600.0, 150.0, 660.0, 222.0]), 1.5)
    _, v = fp.point(2, np.array([600.0, 154.0, 660.0, 220.0]), 2.0)
    assert v == pytest.approx(154 + 0.95 * 0.8 * 134.0, abs=0.5)


def test_floor_point_a_box_the_plane_found_whole_stays_whole_until_it_shrinks() -> None:
    fp = FloorPoints(image_height=540)
    # The camera's people: whole boxes of height 0.8 (top − 20), 104 px for a head at row 150.
    teach_whole_people(fp)
    # A short person, 80 px (0.77 of the plane's 104 at row 150): whole. Ten rows nearer the plane says 112, and
    # their 80 px are 0.71 of it: the plane alone would take them for someone behind a counter and place them
    # 30 px nearer still; their own box, judged whole a sample ago and no shorter since, is still the person.
    _, v = fp.point(1, np.array([400.0, 150.0, 460.0, 230.0]), 1.0)
    assert v == pytest.approx(230 - 0.05 * 80, abs=0.5)
    _, v = fp.point(1, np.array([400.0, 160.0, 460.0, 240.0]), 1.5)
    assert v == pytest.approx(240 - 0.05 * 80, abs=0.5)
    # Shrunk by more than a tenth (not by a jump, which would begin an occluded spell): the plane judges again.
    _, v = fp.point(1, np.array([400.0, 160.0, 460.0, 231.0]), 2.0)
    assert v == pytest.approx(160 + 0.95 * 112.0, abs=0.5)


def leaning_person(feet_u: float, k: float = 0.3, centre_u: float = 480.0) -> tuple[np.ndarray, np.ndarray]:
    """A whole person whose feet are at column ``feet_u`` (bottom row 400) on a camera where the head sits
    ``k · (feet_u − centre_u)`` beside the feet: their box spans head and feet, so its centre is half-way."""
    lean = k * (feet_u - centre_u)
    c = feet_u + lean / 2
    box = np.array([c - 30 - abs(lean) / 2, 200.0, c + 30 + abs(lean) / 2, 400.0])
    head = np.array([feet_u + lean - 15, 200.0, feet_u + lean + 15, 240.0])
    return box, head


def test_floor_point_learns_the_cameras_lean_and_puts_the_point_under_the_feet() -> None:
    fp = FloorPoints(image_height=540, image_width=960)
    box, head = leaning_person(800.0)
    u, _ = fp.point(1, box, 0.0, head, "bare_head")
    assert u == pytest.approx(848.0)  # the box's centre, 48 px beside the feet, until the lean is known
    for k, feet in enumerate(np.linspace(100.0, 860.0, 12)):
        b, h = leaning_person(float(feet))
        fp.point(10 + k, b, 0.0, h, "bare_head")
    assert fp.lean.slope == pytest.approx(0.3 / 1.15)  # lean / (box centre − centre column)
    u, _ = fp.point(1, box, 0.5, head, "bare_head")
    assert u == pytest.approx(800.0)
    u, _ = fp.point(2, leaning_person(300.0)[0], 0.5)
    assert u == pytest.approx(300.0)
    assert fp.estimate(box) == pytest.approx((800.0, 390.0))  # the same, without the track's memory


def test_floor_point_one_person_standing_still_teaches_no_lean() -> None:
    # One pose repeated (an arm held out moves the box's centre, not the head): 30 looks at one place
    fp = FloorPoints(image_height=540, image_width=960)
    for k in range(30):
        fp.point(1, np.array([400.0, 200.0, 500.0, 400.0]), k / 3, np.array([455.0, 200.0, 485.0, 240.0]),
                 "bare_head")
    assert fp.lean.slope is None
    assert fp.point(1, np.array([400.0, 200.0, 500.0, 400.0]), 10.0)[0] == 450.0


def test_floor_point_remembered_height_follows_the_heads_size_behind_a_counter() -> None:
    fp = FloorPoints(image_height=540)  # no person-height plane: nothing learnt about the camera
    head = np.array([400.0, 100.0, 430.0, 140.0])  # 40 px
    fp.point(1, np.array([390, 100, 450, 340.0]), 0.0, head, "bare_head")  # whole: 240 px
    fp.point(1, np.array([390, 100, 450, 220.0]), 0.5, head, "bare_head")  # behind a counter
    # Walking away behind it: the head shrinks to 30 px, so the person to 180 px.
    _, v = fp.point(1, np.array([390, 80, 440, 180.0]), 1.0, np.array([400.0, 80.0, 422.0, 110.0]), "bare_head")
    assert v == pytest.approx(80 + 0.95 * 180.0, abs=0.5)
    # A toque put on changes the head's box, not the distance: the height is not scaled by it.
    _, v = fp.point(1, np.array([390, 80, 440, 180.0]), 1.5, np.array([398.0, 50.0, 424.0, 110.0]), "chef_hat")
    assert v == pytest.approx(80 + 0.95 * 240.0, abs=0.5)


def test_floor_point_someone_walking_away_near_the_camera_is_not_taken_for_hidden_legs() -> None:
    fp = FloorPoints(image_height=540)
    # Near the camera, walking away: the box shrinks a sixth from one sample to the next (the bottom rises 60 px,
    # the top 20), and so does the head: that is distance, not a counter.
    fp.point(1, np.array([400, 200, 500, 500.0]), 0.0, np.array([430.0, 200.0, 466.0, 248.0]), "bare_head")
    _, v = fp.point(1, np.array([400, 180, 490, 430.0]), 1 / 3, np.array([428.0, 180.0, 458.0, 220.0]), "bare_head")
    assert v == pytest.approx(430 - 0.05 * 250.0, abs=0.5)


def test_floor_point_of_someone_first_seen_behind_a_counter_goes_by_their_head() -> None:
    fp = FloorPoints(image_height=540)  # too few boxes for a person-height plane
    # The camera's people are 4 heads tall (bare heads; chef hats do not count, their box is the hat's).
    for k in range(15):
        h = 160.0 + 4 * k
        fp.point(100 + k, np.array([100 + 30 * k, 100, 160 + 30 * k, 100 + h]), 0.0,
                 np.array([115 + 30 * k, 100, 145 + 30 * k, 100 + h / 4]), "bare_head")
        fp.point(200 + k, np.array([100 + 30 * k, 300, 160 + 30 * k, 350]), 0.0,
                 np.array([115 + 30 * k, 300, 145 + 30 * k, 340]), "chef_hat")
    assert fp.heads.ratio == pytest.approx(4.0)
    # Someone first seen behind a counter, a 45 px head over a 110 px box: 180 px tall, legs hidden.
    _, v = fp.point(1, np.array([400, 100, 460, 210.0]), 1.0, np.array([415, 100, 445, 145.0]), "bare_head")
    assert v == pytest.approx(100 + 0.95 * 180.0, abs=0.5)
    # A whole person a little shorter than the camera's average (170 px for a 45 px head) is their own box.
    _, v = fp.point(2, np.array([600, 100, 660, 270.0]), 1.0, np.array([615, 100, 645, 145.0]), "bare_head")
    assert v == pytest.approx(270 - 0.05 * 170.0, abs=0.5)
    # Someone 13 % hidden (a 156 px box for a 45 px head): whole people are at least 0.94 of the camera's ratio.
    _, v = fp.point(4, np.array([800, 100, 860, 256.0]), 1.0, np.array([815, 100, 845, 145.0]), "bare_head")
    assert v == pytest.approx(100 + 0.95 * 180.0, abs=0.5)
    # In a chef hat the head says nothing: the box is the person.
    _, v = fp.point(3, np.array([700, 100, 760, 210.0]), 1.0, np.array([715, 80, 745, 145.0]), "chef_hat")
    assert v == pytest.approx(210 - 0.05 * 110.0, abs=0.5)


def test_floor_point_of_a_box_cut_by_the_bottom_edge_is_below_the_picture() -> None:
    fp = FloorPoints(image_height=540)
    _, v = fp.point(1, np.array([100, 400, 160, 539.0]), 0.0)  # walking in under the camera: feet not in view
    assert v >= 540.0
    _, v = fp.point(2, np.array([300, 400, 360, 535.0]), 0.0)  # a detector's box stops a few pixels short of it
    assert v >= 540.0
    _, v = fp.point(3, np.array([500, 380, 560, 530.0]), 0.0)  # 10 px above it: the feet are in view
    assert v == pytest.approx(530.0 - 0.05 * 150.0)


def test_floor_point_arm_coming_down_is_no_occlusion() -> None:
    fp = FloorPoints(image_height=540)
    fp.point(1, np.array([100, 60, 160, 300.0]), 0.0)  # arm raised to the hat: the box top is high
    _, v = fp.point(1, np.array([100, 100, 160, 300.0]), 0.5)
    assert v == pytest.approx(300 - 0.05 * 200)


# --- motion gate ---------------------------------------------------------------------------------------------


def test_gate_sees_a_head_sized_change_and_ignores_an_unchanged_frame() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (540, 960), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    zone = np.array([[300, 300], [700, 300], [700, 500], [300, 500]], np.float32)
    gate = MotionGate(watch_mask([zone], 960, 540, 0.45))
    assert gate.moved(img, 0.0)
    gate.ran(0.0)
    noisy = np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    assert not gate.moved(noisy, 0.5)
    hat_off = img.copy()
    hat_off[120:150, 480:505] = 20  # a 25×30 px dark head where a white hat was, above the zone
    assert gate.moved(hat_off, 1.0)
    far = img.copy()
    far[10:60, 10:60] = 0  # outside the zones swept up by a person's height
    assert not gate.moved(far, 1.5)


# --- the detector with scripted boxes ------------------------------------------------------------------------


@dataclass
class Scripted:
    """A stand-in object detector returning scripted boxes per call (input data for the rules unit)."""

    script: Sequence[Sequence[tuple[str, tuple[float, float, float, float]]]]
    names: tuple[str, ...] = ("person", "chef_hat", "bare_head", "other_headwear", "bin_open", "bin_closed")
    calls: int = 0

    def detect(self, images: list[np.ndarray]) -> list:
        from models import Detections

        rows = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        b = np.array([r[1] for r in rows], np.float32).reshape(-1, 4)
        ids = np.array([self.names.index(r[0]) for r in rows], np.int64)
        return [Detections(b, np.full(len(rows), 0.9, np.float32), ids, self.names) for _ in images]


def camera(**rules: float) -> CameraConfig:
    return CameraConfig(camera_id="k1", detector="kitchen", detect_fps=2.0, zones=[
        Zone(name="prep-1", kind="hat_required", polygon=[(50, 200), (400, 200), (400, 400), (50, 400)]),
        Zone(name="bin-1", kind="bin", polygon=[(600, 150), (800, 150), (800, 400), (600, 400)])],
        rules=KitchenRules.model_validate({"missing_chef_hat_after_s": 3.0, "uncovered_bin_after_s": 4.0, **rules}))


def frames(n: int, fps: float = 10.0, moving: bool = True) -> list[Frame]:
    out = []
    for i in range(n):
        luma = np.full((480, 960), 100, np.uint8)
        if moving:
            x = 60 + (i * 13) % 300
            luma[300:340, x:x + 40] = 220  # something moving in the prep zone every frame
        out.append(Frame(i, i / fps, luma))
    return out


def test_detector_samples_by_pts_and_raises_contract_events() -> None:
    bare = [("person", (150, 150, 210, 340)), ("bare_head", (165, 150, 195, 185)), ("bin_open", (650, 180, 720, 300))]
    model = Scripted([bare])
    det = KitchenDetector("k1", camera(), model, stream_start=datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    events: list[dict[str, Any]] = []
    for f in frames(100):  # 10 s at 10 fps, sampled at 2 per second
        events += [e.to_json() for e in det.process(f)]
    events += [e.to_json() for e in det.finish()]
    assert det.samples == 20 and model.calls == 20
    by_type = {e["type"]: e for e in events}
    assert sorted(by_type) == ["missing_chef_hat", "uncovered_bin"] and len(events) == 2
    hat = by_type["missing_chef_hat"]
    # A track is confirmed on its second match, but its stay (and the dwell) counts from its first sighting.
    assert hat["zone"] == "prep-1" and hat["start"] == 0.0 and hat["end"] == 3.0
    assert hat["boxes"] == [[150.0, 150.0, 210.0, 340.0]]
    assert hat["started_at"] == "2026-11-22T10:00:00.000Z" and hat["camera_id"] == "k1"
    assert hat["track"][0] == {"t": 0.0, "u": 180.0, "v": 330.5} and hat["headwear"] == "bare_head"
    assert len(hat["track"]) == 7 and hat["person_track_id"] == 1 and hat["alarm_s"] == 3.0
    assert 0.0 < hat["confidence"] <= 1.0 and "release" not in hat
    binev = by_type["uncovered_bin"]
    assert binev["zone"] == "bin-1" and (binev["start"], binev["end"]) == (0.0, 4.0)
    assert binev["boxes"] == [[650.0, 180.0, 720.0, 300.0]]


def test_detector_reuses_detections_while_nothing_moves() -> None:
    model = Scripted([[("person", (150, 150, 210, 340)), ("chef_hat", (165, 140, 195, 185))]])
    det = KitchenDetector("k1", camera(), model)
    events = []
    for f in frames(100, moving=False):
        events += det.process(f)
    assert events == [] and det.samples == 20
    assert model.calls == 5  # 20 samples, the model only at the 2-s refresh: 0, 2, 4, 6, 8 s


def test_detector_person_using_the_bin_keeps_it_from_alarming() -> None:
    using = [("person", (640, 120, 700, 300)), ("chef_hat", (655, 110, 685, 150)), ("bin_open", (700, 200, 770, 300))]
    det = KitchenDetector("k1", camera(), Scripted([using]))
    events = []
    for f in frames(100):
        events += det.process(f)
    assert events == []


def test_detector_without_model_needs_reference_bins_only() -> None:
    with pytest.raises(ValueError, match="needs a detection model"):
        KitchenDetector("k1", camera(), None)


# --- model-free bin mode on a rendered clip ------------------------------------------------------------------


def test_model_free_bin_mode_on_a_rendered_clip(tmp_path: Path) -> None:
    """The uncovered-bin sample's kitchen (its lighting flicker included) with nobody in it: bin-2 opens at 1 s
    and stays open, bin-1 opens at 1 s for 1.5 s. The reference is the same kitchen rendered with the bins
    closed; no model runs. (On the generated benchmark clips people walking through bin zones restart the
    dwell often: docs/benchmarks.md has the figures.)"""
    import dataclasses

    from edgewatch.scenes.kitchen import random_spec, render_scene

    sample = json.loads((KITCHEN / "kitchen-uncovered-bin.truth.json").read_text())
    spec = random_spec(sample["seed"], width=640, height=360, duration_s=9.0, fps=sample["fps"])
    spec = dataclasses.replace(spec, staff=(), lid_events=(("bin-1", 1.0, True), ("bin-2", 1.0, True),
                                                           ("bin-1", 2.5, False)))
    paths = render_scene(spec, tmp_path, "empty-kitchen")
    truth = json.loads(paths["truth"].read_text())
    (violation,) = truth["violations"]
    assert violation["zone"] == "bin-2"
    ref = closed_reference(truth, tmp_path / "closed.jpg")
    cam = load_camera(paths["camera"])
    cam = cam.model_copy(update={"zones": [z.model_copy(update={"reference": ref}) for z in cam.zones
                                           if z.kind == "bin"]})
    det = KitchenDetector(cam.camera_id, cam, None)  # no model at all
    container = open_video(paths["video"])
    events = []
    try:
        for frame in decode_frames(container):
            events += det.process(frame)
    finally:
        container.close()
    (event,) = events
    assert event.type == "uncovered_bin" and event.zone == "bin-2"
    assert violation["alarm_s"] - 0.5 <= event.end <= violation["alarm_s"] + 1.0, (event.end, violation)


def test_reference_comparison_ignores_a_lighting_change() -> None:
    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (200, 300), dtype=np.uint8), (0, 0), 2)
    scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX)
    mask = np.zeros((200, 300), np.uint8)
    mask[40:160, 60:240] = 255
    ref = BinReference(mask, scene)
    dim = np.clip(scene.astype(float) * 0.55 + 20, 0, 255).astype(np.uint8)  # lamps dimmed, exposure shifted
    assert ref.update(dim, 0.0)[0] is False
    lid = dim.copy()
    lid[45:110, 70:200] = cv2.GaussianBlur(rng.integers(0, 255, (65, 130), dtype=np.uint8), (0, 0), 2)
    assert ref.update(lid, 0.5)[0] is True


# --- camera file keys ----------------------------------------------------------------------------------------


def test_camera_file_kitchen_keys(tmp_path: Path) -> None:
    (tmp_path / "refs").mkdir()
    (tmp_path / "cam.yaml").write_text(
        "camera_id: k1\ndetector: kitchen\ndetect_fps: 4\nzones:\n"
        "  - {name: bin-1, kind: bin, polygon: [[0, 0], [10, 0], [10, 10]], reference: refs/bin-1.png}\n")
    cam = load_camera(tmp_path / "cam.yaml")
    assert cam.detect_fps == 4.0 and cam.zones[0].reference == tmp_path / "refs" / "bin-1.png"
    (tmp_path / "bad.yaml").write_text(
        "camera_id: k1\ndetector: kitchen\nzones:\n"
        "  - {name: p, kind: hat_required, polygon: [[0, 0], [10, 0], [10, 10]], reference: x.png}\n")
    with pytest.raises(UserError, match=r"zones\.0: Value error, reference is for bin zones only"):
        load_camera(tmp_path / "bad.yaml")


@pytest.mark.parametrize(("value", "why"), [("416x250", "multiples of 32"), ("416", "should match pattern"),
                                            ("0x256", "should match pattern"), ("8192x256", "between 32 and 4096")])
def test_camera_model_input_is_checked_with_the_key_named(value: str, why: str, tmp_path: Path) -> None:
    (tmp_path / "cam.yaml").write_text(f"camera_id: k1\ndetector: kitchen\nmodel_input: '{value}'\n")
    with pytest.raises(UserError, match=rf"model_input: .*{why}"):
        load_camera(tmp_path / "cam.yaml")


def test_camera_model_input_runs_the_shipped_model_at_that_size(tmp_path: Path) -> None:
    from edge.kitchen.build import kitchen_model

    (tmp_path / "cam.yaml").write_text("camera_id: k1\ndetector: kitchen\nmodel_input: 416x256\nzones:\n"
                                       "  - {name: p, kind: hat_required, polygon: [[0, 0], [10, 0], [10, 10]]}\n")
    model = kitchen_model(load_camera(tmp_path / "cam.yaml"))
    assert model is not None and model.input_size == (416, 256)
    assert kitchen_model(load_camera(tmp_path / "cam.yaml").model_copy(update={"model_input": None})).input_size \
        == (640, 384)


def test_edge_yaml_accepts_kitchen_cameras_and_names_a_missing_model(tmp_path: Path) -> None:
    from edge.runtime.config import load_edge_config

    cv2.imwrite(str(tmp_path / "closed.png"), np.zeros((540, 960, 3), np.uint8))
    head = "site: s1\nmqtt: {host: 127.0.0.1}\nspool: {dir: spool}\ncameras:\n"
    model_free = ("  - {camera_id: k1, detector: kitchen, source: x.mp4, zones: [{name: bin-1, kind: bin, "
                  "polygon: [[0, 0], [10, 0], [10, 10]], reference: closed.png}]}\n")
    (tmp_path / "edge.yaml").write_text(head + model_free)
    config = load_edge_config(tmp_path / "edge.yaml")
    assert config.cameras[0].zones[0].reference == tmp_path / "closed.png"
    with_model = ("  - {camera_id: k2, detector: kitchen, source: x.mp4, model: nowhere.onnx, zones: [{name: p, "
                  "kind: hat_required, polygon: [[0, 0], [10, 0], [10, 10]]}]}\n")
    (tmp_path / "edge.yaml").write_text(head + with_model)
    with pytest.raises(UserError, match=r"camera k2: .*nowhere\.onnx: no such model file"):
        load_edge_config(tmp_path / "edge.yaml")
