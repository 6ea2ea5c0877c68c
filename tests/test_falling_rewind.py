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
