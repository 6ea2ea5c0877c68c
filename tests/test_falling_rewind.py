"""Looking back for a fall's start in the frames before its track began (edge.falling.rewind)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from test_falling_detector import FPS, background, draw_disc

from edge.falling.detector import FallingDetector, FallingParams
from edge.falling.rewind import FrameHistory, RewindParams
from edge.frames import Frame

T_RELEASE = 0.6


def dropped(t: float) -> tuple[float, float] | None:
    """Let go at (300, 60) at T_RELEASE (out of sight before: behind a window frame), then a slow fall (a far
    object: 180 px/s²)."""
    if t < T_RELEASE:
        return None
    d = t - T_RELEASE
    return 300.0 + 10.0 * d, 60.0 + 0.5 * 180.0 * d * d


def held_then_dropped(t: float) -> tuple[float, float]:
    """Held still at (300, 60) until T_RELEASE, then as :func:`dropped`."""
    return dropped(t) or (300.0, 60.0)


def events_for(path, look_back: bool, value: float = 90.0, n: int = 70) -> list:
    """Render the disc (grey ``value`` on a background of mostly 120) where ``path`` puts it, when it does."""
    rng = np.random.default_rng(1)
    bg = background(0)
    det = FallingDetector("test-cam", None, FallingParams(look_back=look_back))
    events = []
    for i in range(n):
        t = i / FPS
        img = bg.copy()
        pos = path(t)
        if pos is not None:
            draw_disc(img, pos[0], pos[1], 2.5, value)
        img += rng.normal(0, 2.0, img.shape)
        events += det.process(Frame(i, t, np.clip(img, 0, 255).astype(np.uint8)))
    return events + det.finish()


def test_looking_back_finds_the_slow_start_of_a_fall() -> None:
    """The motion stage picks a slow, faint start up late; the frames before hold it, on the path."""
    late = events_for(dropped, look_back=False)
    early = events_for(dropped, look_back=True)
    assert len(late) == 1 and len(early) == 1
    assert late[0].start > T_RELEASE + 0.3
    assert T_RELEASE - 0.01 <= early[0].start <= T_RELEASE + 0.12
    added = [p for p in early[0].track if p.t < late[0].start - 1e-6]
    assert len(added) >= 5
    err = np.array([np.hypot(p.u - 300.0 - 10.0 * (p.t - T_RELEASE), p.v - 60.0 - 90.0 * (p.t - T_RELEASE) ** 2)
                    for p in added])
    # A hard-edged disc moving under a pixel a frame covers the same pixels for a while: its centroid jumps.
    assert err.max() < 2.5 and np.median(err) < 0.7


def test_a_held_object_is_not_part_of_the_flight() -> None:
    """A contrasty object stands still in the hand before its release: those frames are not flight."""
    (ev,) = events_for(held_then_dropped, look_back=True, value=30.0)
    assert ev.start >= T_RELEASE - 0.01


def test_looking_back_invents_nothing() -> None:
    """An object that comes out from behind something mid-fall was nowhere before: the track is not extended."""
    appear = 0.8

    def from_behind(t: float) -> tuple[float, float] | None:
        if t < appear:
            return None
        return 300.0 + 15.0 * t, 40.0 + 0.5 * 400.0 * (t + 0.3) ** 2

    (without,) = events_for(from_behind, look_back=False, value=30.0)
    (with_look,) = events_for(from_behind, look_back=True, value=30.0)
    assert with_look.start == without.start >= appear


def test_history_keeps_frames_spaced_and_recent() -> None:
    hist = FrameHistory(RewindParams(history_s=0.5, spacing_s=0.07))
    img = np.zeros((4, 4), np.uint8)
    for i in range(40):
        hist.push(i / 25.0, img)
    times = [t for t, _ in hist.frames()]
    assert times[-1] - times[0] <= 0.5
    assert all(0.07 <= b - a <= 0.09 for a, b in pairwise(times))
    hist.push(40 / 25.0 + 0.01, None)  # a shaken frame is always recorded: the walk back must stop there
    assert hist.frames()[-1][1] is None


def soft_disc(img: np.ndarray, u: float, v: float, r: float, value: float) -> None:
    """An anti-aliased disc: each pixel covered in proportion to how far inside the rim it lies."""
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    cover = np.clip(r + 0.5 - np.hypot(xx - u, yy - v), 0.0, 1.0)
    img[:] = img * (1.0 - cover) + value * cover


def big_slow_fall(t: float) -> tuple[float, float]:
    """A 12-px object near the camera moving 5–7 px a frame at first: less than its own length."""
    return 320.0 + 5.0 * t, 40.0 + 75.0 * t + 0.5 * 100.0 * t * t


def test_a_slow_objects_points_are_its_centre_not_its_changed_part() -> None:
    """The motion stage's blob of an object that moves less than its length is where it changed: a band
    ahead (the strip behind, where it left, is background again in the motion stage's reference frame), whose
    centroid leads its centre; measured again against a frame in which it had moved clear, each point is the
    centre (the event's track and the metric fit take those)."""

    def errors(measure_again: bool) -> np.ndarray:
        rng = np.random.default_rng(3)
        det = FallingDetector("test-cam", None, FallingParams(measure_again=measure_again))
        events = []
        for i in range(45):
            t = i / FPS
            img = np.full((480, 640), 120.0, np.float32)
            soft_disc(img, *big_slow_fall(t), 6.0, 40.0)
            img += rng.normal(0, 2.0, img.shape)
            events += det.process(Frame(i, t, np.clip(img, 0, 255).astype(np.uint8)))
        (ev,) = events + det.finish()
        # Along the motion (nearly +v): positive ahead of the centre.
        return np.array([p.v - big_slow_fall(p.t)[1] for p in ev.track if p.t > 0.2])

    before, after = errors(False), errors(True)
    # The leading band, ahead of the centre by about (12 − step) / 2 px: 4–6 px at the first steps of 5–7 px,
    # under 1 px once the steps near the object's length (the first points are looked-back centres).
    assert before.max() > 4.0 and before.min() > -0.5 and np.median(before) > 0.8
    # Only the third point is left as it was (neither kept for looking back nor late enough to measure again).
    assert np.sum(np.abs(after) > 0.3) <= 1 and np.median(np.abs(after)) < 0.1


def test_centres_stay_with_their_points() -> None:
    """A measured-again centre belongs to one point of one track: joining keeps the second track's only for
    the points it contributes (the first's own points at the same times are other blobs)."""
    from edge.falling.tracker import Track

    a = Track(1, t=[0.0, 0.04, 0.08], u=[10.0, 11.0, 12.0], v=[5.0, 6.0, 7.0], area=[4.0] * 3,
              contrast=[9.0] * 3, length=[2.0] * 3, centres={0.04: (11.5, 6.5)})
    b = Track(2, t=[0.08, 0.12], u=[40.0, 13.0], v=[40.0, 8.0], area=[4.0] * 2, contrast=[9.0] * 2,
              length=[2.0] * 2, centres={0.08: (40.5, 40.5), 0.12: (13.5, 8.5)})
    t, uv = a.joined(b).centre_arrays()
    assert t.tolist() == [0.0, 0.04, 0.08, 0.12]
    assert uv.tolist() == [[10.0, 5.0], [11.5, 6.5], [12.0, 7.0], [13.5, 8.5]]
    _, sub = a.joined(b).subset(np.array([True, True, False, True])).centre_arrays()
    assert sub.tolist() == [[10.0, 5.0], [11.5, 6.5], [13.5, 8.5]]
