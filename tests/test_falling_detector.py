"""The falling-object detector on synthetic frames fed straight in (no video codec): mechanics and physics."""

from __future__ import annotations

import numpy as np
import pytest

from edge.falling.detector import FallingDetector
from edge.falling.motion import MotionDetector, MotionParams
from edge.frames import Frame

W, H, FPS = 640, 480, 25.0


def background(seed: int = 0) -> np.ndarray:
    """A textured facade-like picture: blocks of different grey with edges, so edge handling is exercised."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 120, np.float32)
    for _ in range(60):
        x, y = rng.integers(0, W - 40), rng.integers(0, H - 30)
        img[y:y + rng.integers(8, 30), x:x + rng.integers(8, 40)] = rng.integers(60, 200)
    return img


def draw_disc(img: np.ndarray, u: float, v: float, r: float, value: float) -> None:
    yy, xx = np.ogrid[:H, :W]
    inside = (xx - u) ** 2 + (yy - v) ** 2 <= r * r
    img[inside] = value


def run(frames: list[np.ndarray], t: np.ndarray | None = None) -> list:
    det = FallingDetector("test-cam")
    events = []
    times = t if t is not None else np.arange(len(frames)) / FPS
    for i, (img, ti) in enumerate(zip(frames, times, strict=True)):
        events += det.process(Frame(i, float(ti), img))
    return events + det.finish()


def render(path, n: int = 50, seed: int = 0, noise: float = 2.0, extra=None) -> list[np.ndarray]:
    """Frames of the background plus noise with a disc at path(t) (None = not drawn)."""
    rng = np.random.default_rng(seed + 1)
    bg = background(seed)
    frames = []
    for i in range(n):
        t = i / FPS
        img = bg.copy()
        if extra is not None:
            extra(img, i, t)
        pos = path(t)
        if pos is not None:
            draw_disc(img, pos[0], pos[1], 2.5, 30.0)
        img += rng.normal(0, noise, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def falling(t: float) -> tuple[float, float] | None:
    """Pixel-space free fall: 0.5·a·t² with a = 400 px/s², starting at rest near the top."""
    return 300 + 15 * t, 40 + 0.5 * 400 * (t + 0.3) ** 2


def test_free_fall_gives_one_event_with_the_track() -> None:
    events = run(render(falling))
    assert len(events) == 1
    ev = events[0]
    assert ev.type == "falling_object" and ev.release is None
    for p in ev.track:
        u, v = falling(p.t)
        assert abs(p.u - u) < 1.5 and abs(p.v - v) < 1.5
    assert ev.start < 0.5 and len(ev.track) >= 15


def test_constant_speed_drift_is_not_a_fall() -> None:
    """A leaf or paper at terminal velocity: steady downward motion, no acceleration."""
    assert run(render(lambda t: (300 + 20 * np.sin(3 * t), 40 + 160 * t))) == []


def test_horizontal_flight_is_not_a_fall() -> None:
    assert run(render(lambda t: (40 + 300 * t, 200 + 20 * t * t))) == []


def test_brightness_jump_and_shake_raise_nothing() -> None:
    def exposure(img: np.ndarray, i: int, t: float) -> None:
        if i >= 20:
            img *= 1.25

    assert run(render(lambda t: None, extra=exposure)) == []
    bg = background(3)
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(50):
        dx, dy = rng.normal(0, 1.5, 2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        import cv2

        img = cv2.warpAffine(bg, m, (W, H), borderMode=cv2.BORDER_REFLECT) + rng.normal(0, 2, (H, W))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    assert run(frames) == []


def test_dropped_frames_use_timestamps() -> None:
    """Every third frame missing: the track is still one event and the fit uses the real times."""
    frames = render(falling, n=60)
    t = np.arange(60) / FPS
    keep = np.arange(60) % 3 != 1
    events = run([f for f, k in zip(frames, keep, strict=True) if k], t[keep])
    assert len(events) == 1


def test_persistent_motion_is_masked() -> None:
    """A region flickering all the time (a tree) stops producing candidates."""
    rng = np.random.default_rng(2)

    def tree(img: np.ndarray, i: int, t: float) -> None:
        img[300:400, 50:200] = rng.integers(40, 200, (100, 150))

    frames = render(lambda t: None, n=150, extra=tree)
    never_busy = MotionDetector(np.full((H, W), 255, np.uint8), MotionParams(busy_on=2.0, busy_off=2.0))
    assert sum(len(never_busy.process(f)) for f in frames) > 100  # the flicker is there to be masked
    det = MotionDetector(np.full((H, W), 255, np.uint8))
    counts = [len(det.process(f)) for f in frames]
    assert sum(counts[10:]) == 0  # masked within a few frames of start-up, and stays masked


def test_empty_watch_mask_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        MotionDetector(np.zeros((H, W), np.uint8))
