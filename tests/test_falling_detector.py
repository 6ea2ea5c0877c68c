"""The falling-object detector on synthetic frames fed straight in (no video codec): mechanics and physics."""

from __future__ import annotations

from collections.abc import Callable

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


def render(path, n: int = 50, seed: int = 0, noise: float = 2.0, extra=None, t_offset: float = 0.0,
           radius: Callable[[float], float] = lambda t: 2.5) -> list[np.ndarray]:
    """Frames of the background plus noise with a disc of ``radius(t)`` at path(t) (None = not drawn), t from
    ``t_offset``."""
    rng = np.random.default_rng(seed + 1)
    bg = background(seed)
    frames = []
    for i in range(n):
        t = t_offset + i / FPS
        img = bg.copy()
        if extra is not None:
            extra(img, i, t)
        pos = path(t)
        if pos is not None:
            draw_disc(img, pos[0], pos[1], radius(t), 30.0)
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
        pos = falling(p.t)
        assert pos is not None
        u, v = pos
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
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        import cv2

        img = cv2.warpAffine(bg, m, (W, H), borderMode=cv2.BORDER_REFLECT) + rng.normal(0, 2, (H, W))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    assert run(frames) == []


def rain(drops: int, seed: int = 7, thickness: int = 1) -> Callable[[np.ndarray, int, float], None]:
    """Heavy rain: every frame ``drops`` new thin bright streaks, 20–40 px long, leaning a little."""
    import cv2

    rng = np.random.default_rng(seed)

    def draw(img: np.ndarray, i: int, t: float) -> None:
        layer = np.zeros((H, W), np.uint8)
        x, y = rng.uniform(0, W, drops), rng.uniform(-20, H, drops)
        length, bright = rng.uniform(20, 40, drops), rng.uniform(15, 35, drops)
        for k in range(drops):
            end = (int(x[k] + 0.1 * length[k]), int(y[k] + length[k]))
            cv2.line(layer, (int(x[k]), int(y[k])), end, int(bright[k]), thickness, cv2.LINE_AA)
        img += layer

    return draw


@pytest.mark.parametrize("thickness", [1, 2])
def test_heavy_rain_is_not_taken_for_a_lighting_change(thickness: int) -> None:
    """Hundreds of streaks a frame light up more grid cells than the lighting test allows (12 %), but the
    change is thin and averages away at a sixteenth of the resolution, where a lighting change keeps its
    amplitude: the frames are looked at, and a fall in the rain is found. Judged by cells alone, nearly every
    frame was skipped as a lighting change (a downpour on the benchmark: 229 of 250 frames). Streaks 2 px thick
    (rain at 1080p) still changed more than 5 % of the region at an eighth of the resolution."""
    frames = render(falling, n=50, extra=rain(300, thickness=thickness))
    by_cells = MotionDetector(np.full((H, W), 255, np.uint8), MotionParams(broad_change_fraction=0.0))
    det = MotionDetector(np.full((H, W), 255, np.uint8))
    skipped, skipped_by_cells = [], []
    for f in frames:
        det.process(f)
        by_cells.process(f)
        skipped.append(det.status.skipped)
        skipped_by_cells.append(by_cells.status.skipped)
    assert skipped_by_cells[2:].count("lighting") > 30  # the rain is heavy enough to be taken for lighting
    assert skipped[2:] == [None] * 48
    assert len(run(frames)) == 1
    # A lighting change in the same rain is still one.
    def rain_and_exposure(img: np.ndarray, i: int, t: float) -> None:
        wet(img, i, t)
        if i >= 20:
            img *= 1.25

    wet = rain(300, thickness=thickness)
    det = MotionDetector(np.full((H, W), 255, np.uint8))
    statuses = []
    for f in render(lambda t: None, n=30, extra=rain_and_exposure):
        det.process(f)
        statuses.append(det.status.skipped)
    assert statuses[20] == "lighting"


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


def test_a_slow_object_does_not_mask_itself() -> None:
    """A 5-px object moving 1–1.6 px a frame (just released, or near a throw's apex) keeps each cell it crosses
    active for 6–9 frames: enough for the fast activity average alone to take it for a tree, and with the
    mask's one-cell margin it ran into its own mask within 2–4 frames. The slow average (activity over the last
    several seconds) keeps it visible."""
    start = 225  # 9 s in: the slow average is a true 8-s average by then
    t0 = start / FPS

    def creeping(speed: float) -> Callable[[float], tuple[float, float] | None]:
        return lambda t: (200 + speed * (t - t0), 150 + 0.2 * speed * (t - t0)) if t >= t0 else None

    for speed in (25.0, 40.0):
        path = creeping(speed)
        frames = render(lambda t: None, n=start) + render(creeping(speed), n=60, t_offset=t0)
        det = MotionDetector(np.full((H, W), 255, np.uint8))
        fast_only = MotionDetector(np.full((H, W), 255, np.uint8), MotionParams(busy_slow_on=0.0))
        seen, found = [], []
        for i, f in enumerate(frames):
            c = det.process(f)
            found.append(len(fast_only.process(f)))
            pos = path(i / FPS)
            if pos is not None and i >= start + 3:
                seen.append(bool(len(c) and np.hypot(c.u - pos[0], c.v - pos[1]).min() < 4.0))
        assert np.mean(seen) >= 0.95, speed
        assert sum(found[start + 8:]) == 0, speed  # the fast average alone: masked within a few frames


def test_a_large_slow_object_is_one_candidate_not_two_bands() -> None:
    """A uniform 36-px box moving 6 px a frame changes two bands between frames: where it arrived and where it
    left. Both differ from the frame before last too (the box covered the band it left two frames ago), so the
    short ghost test keeps both and a tracker jumps between them. The long baseline (a reference frame 1–2 s
    old) shows the band it left as background uncovered again: only where it arrived remains."""
    bg = background(3)

    def frame(i: int) -> np.ndarray:
        img = bg.copy()
        if i >= 60:
            top = 40 + 6 * (i - 60)
            img[top:top + 36, 300:336] = 235
        return np.clip(img, 0, 255).astype(np.uint8)

    for reference_frames, bands in ((25, [33.0]), (0, [-3.0, 33.0])):
        det = MotionDetector(np.full((H, W), 255, np.uint8), MotionParams(reference_frames=reference_frames))
        for i in range(100):
            c = det.process(frame(i))
            if i >= 62:
                top = 40 + 6 * (i - 60)
                assert len(c) == len(bands), (reference_frames, i)
                assert np.abs(np.sort(c.v) - top - np.array(bands)).max() < 1.0, (reference_frames, i)
                assert np.abs(c.u - 317.5).max() < 2.0  # weights vary with the background under the band


def _seen_every_frame(frames: list[np.ndarray], path: Callable[[int], tuple[float, float] | None],
                      params: MotionParams | None = None) -> list[bool]:
    """Per frame in which ``path`` places the object: is a candidate within 3 px of it?"""
    det = MotionDetector(np.full((H, W), 255, np.uint8), params or MotionParams())
    seen = []
    for i, f in enumerate(frames):
        c = det.process(f)
        pos = path(i)
        if pos is not None:
            seen.append(bool(len(c) and np.hypot(c.u - pos[0], c.v - pos[1]).min() < 3.0))
    return seen


def test_the_reference_is_brought_to_the_current_light() -> None:
    """The light rises by a fifth after the reference is kept (a cloud's shadow moving off, the exposure
    recovering): a dark object lit by the new light can show exactly the grey the background had in the
    reference. Against the reference as kept it is "background uncovered" and loses its weight; scaled by the
    local change of brightness, the reference is 144 there, and the object (120) stays a candidate."""
    rng = np.random.default_rng(4)

    def path(i: int) -> tuple[float, float] | None:
        return (320.0, 100 + 0.5 * 400 * ((i - 80) / FPS) ** 2) if 80 <= i < 103 else None

    frames = []
    for i in range(103):  # the reference in use while it falls was kept before the light rose
        light = 1.0 + 0.2 * min(1.0, max(0.0, (i - 55) / 20))  # 1 % a frame: no frame is a lighting jump
        img = np.full((H, W), 120.0, np.float32)
        pos = path(i)
        if pos is not None:
            draw_disc(img, pos[0], pos[1], 3.0, 100.0)  # 100 × 1.2 = 120: the reference's grey
        img = img * light + rng.normal(0, 2.0, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    assert all(_seen_every_frame(frames, path)[2:])  # (from its second frame: it starts at rest)


def test_the_reference_follows_the_camera_when_it_moves() -> None:
    """A camera knocked 4 px sideways (one frame of shake, then steady) still holds a reference kept before the
    knock for up to 2 s. That reference shows a bright bar where an object as bright falls through the dark
    bar beside it, and the object lost its weight there; moved by the camera's shift since it was kept, the
    reference shows the dark bar, and the object stays a candidate. (The same holds, by less, for a camera
    that wanders a pixel or two in the wind, under the shake check's trigger.)"""
    import cv2

    rng = np.random.default_rng(5)
    base = background(5)
    base[:, 290:300], base[:, 300:312] = 170.0, 70.0  # a bright bar, then the dark one the object falls through

    def path(i: int) -> tuple[float, float] | None:  # in the camera's image, 4 px left of the bars' own place
        return (298.0, 100 + 0.5 * 400 * ((i - 80) / FPS) ** 2) if 80 <= i < 100 else None

    frames = []
    for i in range(100):
        offset = -4.0 if i >= 70 else 0.0
        img = cv2.warpAffine(base, np.array([[1, 0, offset], [0, 1, 0]], np.float32), (W, H),
                             borderMode=cv2.BORDER_REFLECT)
        pos = path(i)
        if pos is not None:
            draw_disc(img, pos[0], pos[1], 1.5, 170.0)
        frames.append(np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8))
    assert all(_seen_every_frame(frames, path)[3:])  # (from its third frame: it starts at rest)
    unaligned = _seen_every_frame(frames, path, MotionParams(reference_align=False))[3:]
    assert sum(unaligned) <= 2, unaligned


def test_a_tree_that_starts_moving_is_masked_within_half_a_second() -> None:
    """Calm for 3 s, then a region flickers (a gust in a tree): masked again within about 12 frames."""
    rng = np.random.default_rng(3)

    def tree(img: np.ndarray, i: int, t: float) -> None:
        if i >= 75:
            img[300:400, 50:200] = rng.integers(40, 200, (100, 150))

    frames = render(lambda t: None, n=120, extra=tree)
    det = MotionDetector(np.full((H, W), 255, np.uint8))
    counts = [len(det.process(f)) for f in frames]
    assert sum(counts[75:80]) > 0  # the flicker shows at first
    assert sum(counts[75 + 14:]) == 0


def test_empty_watch_mask_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        MotionDetector(np.zeros((H, W), np.uint8))


def test_active_cells_equal_a_block_maximum_of_the_excess() -> None:
    """The word-wise "any pixel of the cell" test gives the cells of the plain definition, for every cell size."""
    rng = np.random.default_rng(4)
    mask = np.zeros((H, W), np.uint8)
    mask[30:450, 16:600] = 255
    mask[100:200, 300:400] = 0  # an ignore area inside the box
    for g in (2, 3, 4, 8):
        det = MotionDetector(mask, MotionParams(cell_px=g))
        x0, y0, x1, y1 = det.roi
        for _ in range(3):
            det.process((background(1) + rng.normal(0, 2, (H, W))).clip(0, 255).astype(np.uint8))
        for spread in (3.0, 12.0):
            d1 = np.abs(rng.normal(0, spread, (y1 - y0, x1 - x0))).clip(0, 255).astype(np.uint8)
            d1[rng.integers(0, y1 - y0, 20), rng.integers(0, x1 - x0, 20)] = 200  # small objects: one pixel each
            cells, _ = det._active_cells(d1)
            assert det._threshold_map is not None
            over = d1.astype(int) - det._threshold_map.astype(int) > round(det._noise_threshold())
            expected = over.reshape((y1 - y0) // g, g, (x1 - x0) // g, g).any(axis=(1, 3)) & det._cell_watched
            assert np.array_equal(cells, expected), g
            assert 0 < cells.sum() < cells.size


def test_noise_median_equals_numpy() -> None:
    from edge.falling.motion import _median_u8

    rng = np.random.default_rng(5)
    for n in [1, 2, 3, 10, 11, 4321]:
        for top in (2, 30, 256):
            values = rng.integers(0, top, n).astype(np.uint8)
            assert _median_u8(values) == float(np.median(values))
    frame = rng.integers(0, 256, (H, W)).astype(np.uint8)
    assert _median_u8(frame[::7, ::7]) == float(np.median(frame[::7, ::7]))


def test_shifted_blocks_match_a_full_frame_warp() -> None:
    """Shake compensation interpolates the frame before last only at active cells: as cv2.warpAffine does."""
    import cv2

    rng = np.random.default_rng(6)
    img = background(2).astype(np.uint8)
    det = MotionDetector(np.full((H, W), 255, np.uint8))
    g = det.params.cell_px
    differ = 0
    for dx, dy in [(0.6, -0.3), (-3.25, 2.5), (7.9, 0.0), (-11.4, -6.7)]:
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        full = cv2.warpAffine(img, shift, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cy = np.concatenate([[0, H // g - 1], rng.integers(0, H // g, 200)])  # the frame's edges too
        cx = np.concatenate([[0, W // g - 1], rng.integers(0, W // g, 200)])
        blocks = det._shifted_blocks(img, shift, cy, cx)
        expected = full.reshape(H // g, g, W // g, g).transpose(0, 2, 1, 3)[cy, cx]
        diff = np.abs(blocks.astype(int) - expected)
        assert diff.max() <= 1
        differ += int(np.count_nonzero(diff))
    assert differ <= 0.002 * 4 * blocks.size


def test_shifted_frame_matches_a_full_frame_warp() -> None:
    """The previous frame's shake compensation (getRectSubPix) is cv2.warpAffine's bilinear translation with
    replicated borders, to one grey level, corners included, for shifts either way."""
    import cv2

    rng = np.random.default_rng(7)
    img = background(3).astype(np.uint8)
    differ = 0
    shifts = [(0.6, -0.3), (-3.25, 2.5), (7.9, 0.0), (-11.4, -6.7), (2.0, 3.0), (-1.5, 2.25), (0.0, 0.0)]
    for dx, dy in shifts:
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        full = cv2.warpAffine(img, shift, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(MotionDetector._shifted(img, shift).astype(int) - full)
        assert diff.max() <= 1, (dx, dy)
        differ += int(np.count_nonzero(diff))
    assert differ <= 0.005 * len(shifts) * img.size
    noise = rng.integers(0, 256, (37, 53)).astype(np.uint8)  # corners of an image with no smooth areas
    for dx, dy in rng.uniform(-9, 9, (20, 2)):
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        full = cv2.warpAffine(noise, shift, (53, 37), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        assert np.abs(MotionDetector._shifted(noise, shift).astype(int) - full).max() <= 1, (dx, dy)


def thrown_up(t: float) -> tuple[float, float] | None:
    """Pixel-space throw at 2 s (once the busy-cell average has settled): up at 60 px/s and sideways at 40 px/s,
    a = 600 px/s² (apex 0.1 s later)."""
    if t < 2.0:
        return None
    t -= 2.0
    return 300 + 40 * t, 150 - 60 * t + 0.5 * 600 * t * t


def test_a_fall_seen_in_two_short_pieces_gives_one_event() -> None:
    """Hidden for 0.12 s (a tree, a glint): 7 points before and 7 after, each piece too short to be evidence
    alone; the detector keeps the first as a possible piece and validates the two joined."""
    hidden = (2.28, 2.4)
    path = lambda t: None if hidden[0] <= t < hidden[1] or t > 2.64 else thrown_up(t)  # noqa: E731
    events = run(render(path, n=80))
    assert len(events) == 1
    ts = [p.t for p in events[0].track]
    assert min(ts) < hidden[0] and max(ts) > hidden[1]
    for p in events[0].track:
        pos = thrown_up(p.t)
        assert pos is not None
        assert abs(p.u - pos[0]) < 3 and abs(p.v - pos[1]) < 3  # a 5-px disc's changed part, not its centre


def test_pieces_of_two_objects_are_not_joined() -> None:
    """Two short falls one after the other in different places: neither is a piece of the other."""
    def two(t: float) -> tuple[float, float] | None:
        if 2.0 <= t < 2.3:
            return 150 + 10 * t, 100 + 0.5 * 400 * (t - 1.7) ** 2
        if 2.4 <= t < 2.7:
            return 450 + 10 * t, 150 + 0.5 * 400 * (t - 2.1) ** 2
        return None

    assert run(render(two, n=80)) == []


def test_blob_size_test_ignores_the_slivers_of_a_slow_object() -> None:
    """Near a throw's apex frame differencing sees a sliver of a slow object: those areas say nothing of its size."""
    from edge.falling.validate import _sized_areas

    t = np.arange(12) / FPS
    v = np.concatenate([[100.0, 100.5, 101.0, 101.2], 101.2 + 12.0 * np.arange(1, 9)])  # still, then 12 px a frame
    uv = np.column_stack([np.full(12, 50.0), v])
    area = np.array([3.0, 4.0, 3.0, 60.0] + [100.0] * 8)  # the fourth moves 6 px a frame (central difference)
    assert set(_sized_areas(t, uv, area, np.full(12, 20.0), 1 / FPS)[1].tolist()) == {60.0, 100.0}


def test_blob_size_test_ignores_faint_scraps_taken_where_the_object_flickered() -> None:
    """A large object (20 → 150 px², contrast 30) whose track took three 1-px scraps at the threshold's contrast
    where it flickered: the scraps say nothing of its size, and its sizes vary 7.5-fold, not 150-fold."""
    from edge.falling.validate import _sized_areas

    t = np.arange(20) / FPS
    uv = np.column_stack([np.full(20, 300.0), 100 + 500 * t])  # 20 px a frame: every blob moved clear
    area = np.linspace(20.0, 150.0, 20)
    contrast = np.full(20, 30.0)
    area[[1, 12, 16]], contrast[[1, 12, 16]] = 1.0, 7.0
    sized_t, sized = _sized_areas(t, uv, area, contrast, 1 / FPS)
    assert sized.min() == 20.0 and sized.size == 17 and sized_t.size == 17


def test_blob_size_test_allows_steady_growth_towards_the_camera() -> None:
    """A phone from a high storey grows from 1-2 px² far up to over 100 px² near the camera (`falling_6000_096`,
    rejected as "blob size varies 2-76 px" while its sizes were judged without their trend), and flashes about
    that trend as it tumbles: steady. The same areas in a jumbled order, as an insect's, are not."""
    from edge.falling.validate import ValidationParams, _size_spread

    rng = np.random.default_rng(7)
    t = np.arange(50) / FPS
    area = np.round(1.5 * np.exp(np.log(110 / 1.5) * t / t[-1]) * rng.uniform(0.4, 1.6, 50))
    limit = ValidationParams().max_size_change
    assert np.percentile(area, 90) > limit * np.percentile(area, 10)  # the plain spread would reject it
    assert _size_spread(t, area) < 5.0
    assert _size_spread(t, rng.permutation(area)) > limit


def test_a_fall_lost_for_a_second_gives_one_event() -> None:
    """A tumbling object seen every other frame, hidden for a second mid-fall: each part is a fall, the two
    joined are too sparse to pass; the later part still joins the first part's event instead of raising a
    second one."""
    def flashing(t: float) -> tuple[float, float] | None:
        if t < 2.0 or round(t * FPS) % 2 or 3.02 < t < 3.98 or t > 5.02:
            return None
        return 200 + 15 * t, 20 + 0.5 * 70 * (t - 1.5) ** 2

    events = run(render(flashing, n=140))
    assert len(events) == 1
    assert events[0].start < 2.1 and events[0].end > 4.9


def test_a_fall_lost_for_longer_than_the_hold_gives_one_event() -> None:
    """Seen for 0.8 s, lost for 1.5 s (longer than the 1.2-s hold: the first part's event has gone out), seen
    again on the same path: the second part is the same fall and raises no second event."""
    def lost(t: float) -> tuple[float, float] | None:
        if t < 2.1 or 2.9 < t < 4.4 or t > 5.1:
            return None
        return 200 + 15 * t, 10 + 60 * (t - 2.0) + 15 * (t - 2.0) ** 2

    events = run(render(lost, n=130))
    assert len(events) == 1
    assert events[0].start < 2.2 and events[0].end < 3.0  # the event of the first part, sent before the second


def test_a_fall_that_comes_back_larger_after_its_event_gives_no_second_one() -> None:
    """Seen for 0.55 s as 1-px blobs, hidden for 0.6 s (longer than a 0.5-s hold: its event goes out) while it
    comes nearer the camera, seen again on its path as 150-px blobs. Both parts move more than their size a
    frame, so each blob is the whole object; joined, the sizes vary 150-fold, a test each part passes alone and
    the gap explains: no second event."""
    from edge.falling.detector import FallingParams

    def lost(t: float) -> tuple[float, float] | None:
        if t < 2.2 or 2.75 < t < 3.35 or t > 3.75:
            return None
        return 200 + 15 * t, 5 + 170 * (t - 2.2) + 70 * (t - 2.2) ** 2

    det = FallingDetector("test-cam", None, FallingParams(hold_s=0.5))
    events = []
    for i, img in enumerate(render(lost, n=120, radius=lambda t: 0.5 if t < 3.0 else 7.0)):
        events += det.process(Frame(i, i / FPS, img))
    events += det.finish()
    assert len(events) == 1
    assert events[0].start < 2.3 and events[0].end < 2.8
    assert det.rejections["continues-emitted"] == 1


def _parabola(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One fall's image path (px), for the tests of parts of it tracked apart."""
    return 200 + 15 * (t - 2.0), 20 + 60 * (t - 2.0) + 120 * (t - 2.0) ** 2


def _having_sent(part):  # type: ignore[no-untyped-def]
    """A detector whose event for ``part`` has gone out."""
    det = FallingDetector("test-cam")
    det._emitted = [(part, det._validate(part))]
    return det


def test_a_continuation_that_starts_on_stray_blobs_is_still_the_sent_fall() -> None:
    """The track that picks a sent fall up again took three blobs beside the object first (rain, a leaf), and
    three of its first five points decide whether it starts on the sent fall's path. Those are the points the
    validation leaves out as strays: judged without them, it continues the sent fall and raises no event."""
    from edge.falling.detector import _may_continue

    t1 = 2.0 + np.arange(14) / FPS
    det = _having_sent(_track(t1, *_parabola(t1), area=20.0))
    t2 = 3.2 + np.arange(16) / FPS
    u2, v2 = _parabola(t2)
    u2[:3] += [40.0, -35.0, 30.0]
    v2[:3] += [0.0, 10.0, -20.0]
    again = _track(t2, u2, v2, area=20.0)
    own = det._validate(again)
    assert own.accepted and not _may_continue(det._emitted[0][0], again)  # its head as tracked: off the path
    assert det._events([again], None) == [] and det._pending == []
    assert det.rejections["continues-emitted"] == 1


def test_the_start_of_a_fall_that_closes_after_its_end_was_sent_is_no_second_event() -> None:
    """A fall's later part, a short track, closed first and its event went out; its first part, a long track
    that closed later (it went on over stray blobs, which its validation left out), ends 0.7 s before the sent
    part starts, on the same path: the sent fall continues it, and it raises no second event."""
    t_late = 3.2 + np.arange(12) / FPS
    det = _having_sent(_track(t_late, *_parabola(t_late), area=20.0))
    t_early = 2.0 + np.arange(13) / FPS
    early = _track(t_early, *_parabola(t_early), area=20.0)
    assert det._validate(early).accepted
    assert det._events([early], None) == [] and det._pending == []
    assert det.rejections["continues-emitted"] == 1


def test_a_track_whose_looked_back_start_retraces_a_sent_fall_is_no_second_event() -> None:
    """An object lost for 1.2 s after its event went out is picked up again off every extrapolation of the sent
    track (its image path bends as it nears the camera), but looking back finds the new track's start in the
    frames before it, back over the sent fall's own points: the same object, no second event
    (falling_7000_061)."""
    def bending(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tau = t - 2.0
        return 200 + 15 * tau, 20 + 60 * tau + 120 * tau**2 + 240 * tau**3

    t_sent = 2.0 + np.arange(11) / FPS
    det = _having_sent(_track(t_sent, *bending(t_sent), area=20.0))
    t_later = 3.6 + np.arange(16) / FPS
    later = _track(t_later, *bending(t_later), area=20.0)
    own = det._validate(later)
    assert own.accepted and not det._continues_emitted(later, own)
    t_back = 2.0 + 2 * np.arange(20) / FPS  # every second frame, as the kept frames
    u_back, v_back = bending(t_back)
    later.prefix = _track(t_back, u_back + 1.0, v_back - 1.0, area=20.0)  # centres, not the blobs
    assert det._events([later], None) == [] and det._pending == []
    assert det.rejections["continues-emitted"] == 1


def test_a_sent_fall_with_a_hole_before_its_end_is_continued() -> None:
    """The sent fall's track has a hole near its end (its validation left strays out: falling_7000_061), so the
    medians of its last steps give its end a stale velocity, and the cheap kinematic test that screens every
    closed track refuses the track that picks the object up 0.04 s later. Against the few sent falls that test
    is skipped: one constant-acceleration fit carries both parts, and there is no second event."""
    from edge.falling.detector import _may_continue

    t_sent = np.concatenate([2.0 + np.arange(11) / FPS, [2.84]])
    det = _having_sent(_track(t_sent, *_parabola(t_sent), area=20.0))
    t_later = 2.88 + np.arange(16) / FPS
    later = _track(t_later, *_parabola(t_later), area=20.0)
    assert det._validate(later).accepted and not _may_continue(det._emitted[0][0], later)
    assert det._events([later], None) == [] and det._pending == []
    assert det.rejections["continues-emitted"] == 1


def test_a_short_continuation_whose_flight_is_only_unlikely_vetoes_nothing() -> None:
    """A held fall is vetoed when its continuation, clean evidence, fails on how it moves alone and joined. A
    short continuation rejected only as an unlikely flight (the prior-cost test, which weighs how little a
    short track shows) is no such evidence: near the camera a box's centroids are least sure and its last 15
    points cost the prior 17.9 (falling_5000_010), while a continuation that no fall fits still vetoes."""
    from calibration.backproject import ReleaseEstimate
    from edge.falling.detector import _flies_on
    from edge.falling.validate import ValidationParams, Verdict

    release = ReleaseEstimate("9", "A", 1.8, -0.3, 27.0, 4.8, {"9": 1.0}, 3.0, (0.0, 0.0, 0.3), 0.04, 15,
                              "ballistic-release-fit")
    t = 6.0 + np.arange(15) / FPS
    continuation = _track(t, *_parabola(t), area=400.0)
    joined = Verdict(False, "does not fit g = 9.81 m/s²: rms 6.40 px", 0.0, 1.0, 1.0, release)
    unlikely = Verdict(False, "unlikely flight for a short track (prior cost 17.9 > 6)", 0.0, 1.0, 1.0, release)
    off = Verdict(False, "does not fit g = 9.81 m/s²: rms 9.00 px", 0.0, 1.0, 1.0, release)
    params = ValidationParams()
    assert not _flies_on(continuation, unlikely, joined, params)
    assert _flies_on(continuation, off, joined, params)


def test_a_bird_that_dives_and_pulls_up_is_not_a_fall() -> None:
    """Its dive (0.8 s, accelerating down) passes every test alone; lost for 0.55 s (longer than the tracker
    coasts), it reappears on the dive's path and pulls up. The dive is held for a continuation, and the two
    joined are no fall: the held dive raises nothing."""
    def dive(t: float) -> tuple[float, float] | None:
        s = t - 2.0
        if s < 0 or 0.8 < s < 1.35 or s > 2.3:
            return None
        if s <= 1.45:
            return 200 + 60 * s, 40 + 75 * (s + 0.2) ** 2
        d = s - 1.45  # from here decelerating at 1000 px/s²: level at 0.25 s, then climbing
        return 200 + 60 * s, 40 + 75 * 1.65**2 + 150 * 1.65 * d - 500 * d * d

    det = FallingDetector("test-cam")
    events = []
    for i, img in enumerate(render(dive, n=130)):
        events += det.process(Frame(i, i / FPS, img))
    assert events + det.finish() == []
    assert det.rejections["continued-off-path"] == 1  # it was held: the dive alone passed
    dive_only = run(render(lambda t: dive(t) if t < 3.0 else None, n=130))
    assert len(dive_only) == 1  # …and would be a fall had the bird not reappeared


def test_two_objects_falling_one_after_the_other_are_two_events() -> None:
    """The same two parts 200 px apart: two objects, two events."""
    def two(t: float) -> tuple[float, float] | None:
        if 2.1 <= t <= 2.9:
            return 200 + 15 * t, 10 + 60 * (t - 2.0) + 15 * (t - 2.0) ** 2
        if 4.4 <= t <= 5.1:
            return 400 + 15 * t, 10 + 60 * (t - 2.0) + 15 * (t - 2.0) ** 2
        return None

    assert len(run(render(two, n=130))) == 2


def _track(t: np.ndarray, u: np.ndarray, v: np.ndarray, area: float = 100.0):
    from edge.falling.tracker import Track

    n = len(t)
    return Track(0, t=[float(x) for x in t], u=[float(x) for x in u], v=[float(x) for x in v], area=[area] * n,
                 contrast=[30.0] * n, length=[10.0] * n)


def test_an_accelerating_track_keeps_its_ends() -> None:
    """A noiseless fall of 12 points (a = 1000 px/s²). Predicted by a straight line through their four
    neighbours, the end points are off by 2.5·a·Δt² = 4 px, so they were taken for strays, then the new ends
    too: 8 of 12 points "consistent", rejected. A window that slides inwards predicts them exactly."""
    from edge.falling.validate import ValidationParams, validate_track

    t = np.arange(12) / FPS
    verdict = validate_track(_track(t, np.full(12, 300.0), 100 + 20 * t + 500 * t * t), ValidationParams())
    assert verdict.accepted, verdict.reason
    assert verdict.keep is not None and verdict.keep.all()


def test_time_hidden_between_pieces_is_not_sparseness() -> None:
    """Pieces of 5 and 7 points of one fall, 0.92 s apart (it crossed an ignore area): a detection in every frame
    where the object could be seen, though 0.33 per frame over the whole span."""
    from edge.falling.validate import ValidationParams, validate_track

    t = np.concatenate([2.0 + np.arange(5) / FPS, 3.08 + np.arange(7) / FPS])
    verdict = validate_track(_track(t, 300 + 15 * t, 20 + 75 * (t - 2.0) ** 2, area=9.0), ValidationParams())
    assert verdict.accepted, verdict.reason


def test_a_fall_hidden_for_most_of_a_second_gives_one_event() -> None:
    """Seen for 0.2 s, hidden for 0.8 s (behind an occluder or an ignore area), seen for 0.28 s: two pieces too
    short to be evidence alone, further apart than the tracker bridges; one fit carries them across the gap."""
    def hidden(t: float) -> tuple[float, float] | None:
        if t < 2.0 or 2.2 < t < 3.0 or t > 3.28:
            return None
        return 300 + 15 * t, 20 + 40 * (t - 2.0) + 75 * (t - 2.0) ** 2

    events = run(render(hidden, n=100))
    assert len(events) == 1
    assert events[0].start < 2.1 and events[0].end > 3.1


def test_pieces_a_second_apart_must_agree_in_velocity() -> None:
    """Across a long gap the curvature bound alone admits pieces from most of the picture (in rain every one
    would go to the fit): the end's and the start's velocities must fit one constant acceleration as well."""
    from edge.falling.detector import _kinematically_near

    t = 3.0 + np.arange(6) / FPS
    later = _track(t, 300 + 15 * t, 100 + 200 * (t - 3.0))  # starts at (345, 100), 200 px/s down
    # Ends 0.9 s earlier (t, u, v, du/dt, dv/dt): at 5 px/s down one constant acceleration leads to the start;
    # at 320 px/s down (a raindrop) it leads 140 px past it, which the curvature bound alone allowed.
    ends = np.array([[2.1, 331.5, 7.5, 15.0, 5.0], [2.1, 331.5, 7.5, 15.0, 320.0]])
    assert _kinematically_near(ends, later).tolist() == [True, False]


# falling_1000_049's storey-3 phone (benchmark, tracked within 3 px of the truth): fast and near the camera, it
# curves in perspective, so a constant-acceleration fit of eight neighbours extrapolated one step to an end
# misses by 4.6–6.7 px, over the median-step tolerance (4.1 px) that interior points are held to.
_PHONE_T = np.array([7.48, 7.52, 7.60, 7.64, 7.68, 7.72, 7.80, 7.88, 7.92, 7.96, 8.00, 8.08, 8.16])
_PHONE_UV = np.array([(235, 590), (223, 587), (210, 579), (201, 577), (192, 576), (183, 577), (158, 581), (133, 589),
                      (118, 595), (103, 603), (86, 612), (47, 637), (4, 669)], float)


def test_end_points_are_held_to_their_extrapolation_error() -> None:
    """An end point predicted by extrapolation has a prediction error √(1 + h) times the fit's noise, with
    leverage h ≈ 2 a step beyond eight points against ≈ 0.3 between four on each side: the phone keeps 11 of its
    13 points (9 before, fewer than the 70 % needed) and is accepted; its first two, partial blobs of 14 and 33
    px against ~110, stay out. (Without the scene's calibration the test wants a path within 40° of image down,
    so the track is reflected across the diagonal: the phone flew sideways; distances are unchanged.)"""
    from edge.falling.validate import ValidationParams, outlier_mask, validate_track

    keep = outlier_mask(_PHONE_T, _PHONE_UV, floor_px=3.15, slide_ends=True)
    assert keep.tolist() == [False, False] + [True] * 11
    area = [14.0, 33, 100, 110, 130, 70, 60, 143, 177, 155, 146, 74, 151]
    track = _track(_PHONE_T, _PHONE_UV[:, 1], 600.0 - _PHONE_UV[:, 0])
    track.area = area
    verdict = validate_track(track, ValidationParams())
    assert verdict.accepted, verdict.reason


def test_a_stray_end_point_is_still_dropped() -> None:
    """The leverage widens an end's tolerance by √((1 + 2)/(1 + 0.3)) ≈ 1.5, not more: a blob 15 px off the
    phone's path at its last point is a stray."""
    from edge.falling.validate import outlier_mask

    uv = _PHONE_UV.copy()
    uv[-1] += (12.0, -9.0)
    keep = outlier_mask(_PHONE_T, uv, floor_px=3.15, slide_ends=True)
    assert not keep[-1]


def test_the_metric_fit_takes_measured_centres_and_the_detectors_point_error() -> None:
    """A calibrated fall: the metric fit assumes at least ``point_sigma_px`` of error per axis (the detector's
    measured error, correlated along a track, which the fit's third differences cannot see) and fits the
    centres measured again, not the motion blobs they replace."""
    from pathlib import Path

    from calibration import load_calibration
    from calibration.ballistics import positions_at
    from edge.falling.validate import ValidationParams, validate_track

    cal = load_calibration(Path(__file__).resolve().parents[1] / "calibration/examples/caima-b3-east.yaml")
    t = 0.3 + np.arange(25) / 25.0
    uv = cal.project(positions_at(np.array([[6.0, -1.0, 34.2, 0.0, -1.0, 0.5]]), np.array([0.0]), t,
                                  max_step_s=0.002)[0])
    # The blobs lag by 3 px along v in every other frame; the centres measured again are exact.
    lagged = uv - np.array([0.0, 3.0]) * (np.arange(25) % 2)[:, None]
    track = _track(t, lagged[:, 0], lagged[:, 1], area=9.0)
    track.centres = {float(ti): (float(u), float(v)) for ti, (u, v) in zip(t, uv, strict=True)}
    verdict = validate_track(track, ValidationParams(), cal)
    assert verdict.accepted and verdict.release is not None
    assert verdict.release.to_json()["pixel_sigma_px"] == 0.7
    assert verdict.release.rms_px < 0.1  # the exact centres, not the zigzag of the blobs
    loose = validate_track(track, ValidationParams(point_sigma_px=1.5), cal)
    assert loose.release is not None and loose.release.to_json()["pixel_sigma_px"] == 1.5


def test_a_long_calibrated_track_may_move_up_in_the_image() -> None:
    """A stone tossed 2.5 m/s out towards a camera that looks up (and 1 m/s up) rises in the image for the first
    second of its fall (`falling_6000_085`). With a calibration a long track is left to the metric fit, which
    names its storey; a short one must still move down in the image."""
    from pathlib import Path

    from calibration import load_calibration
    from calibration.ballistics import positions_at
    from edge.falling.validate import ValidationParams, validate_track

    cal = load_calibration(Path(__file__).resolve().parents[1] / "calibration/examples/caima-b3-east.yaml")
    t = np.arange(24) / 25.0
    uv = cal.project(positions_at(np.array([[6.0, -0.5, 34.2, 1.0, -2.5, 1.0]]), np.array([0.0]), t,
                                  max_step_s=0.002)[0])
    uv += np.random.default_rng(0).normal(0, 0.5, uv.shape)
    assert uv[-1, 1] < uv[0, 1] - 30  # up in the image
    params = ValidationParams()
    long = validate_track(_track(1.0 + t, uv[:, 0], uv[:, 1], area=9.0), params, cal)
    assert long.accepted and long.release is not None and long.release.floor == "12"
    n = params.accel_test_points - 1
    short = validate_track(_track(1.0 + t[:n], uv[:n, 0], uv[:n, 1], area=9.0), params, cal)
    assert not short.accepted and "away from down" in short.reason


def test_a_short_track_is_held_to_a_likely_flight_and_a_long_one_is_not() -> None:
    """A light object (terminal speed 9 m/s) carried by a 7 m/s wind, a second after its release: a real fall,
    whose fit needs a wind the prior finds unusual. Its 20-point track stays under the default bound on the
    prior's cost and passes; under a bound of 2 it is a short track that only an unlikely flight fits. Its
    60-point track costs more (the longer track pins the wind down), and is not held to the bound at all."""
    from pathlib import Path

    from calibration import load_calibration
    from edge.falling.validate import ValidationParams, validate_track

    cal = load_calibration(Path(__file__).resolve().parents[1] / "calibration/examples/caima-b3-east.yaml")
    drag, wind, step = 9.81 / 9.0**2, np.array([7.0, 0.0, 0.0]), 0.001
    p, v, now, points = np.array([6.0, -1.0, 34.2]), np.zeros(3), 0.0, []
    times = 1.0 + np.arange(60) / 25.0
    for t in times:
        while now < t - 1e-9:
            air = v - wind
            v = v + (np.array([0.0, 0.0, -9.81]) - drag * np.linalg.norm(air) * air) * step
            p, now = p + v * step, now + step
        points.append(p.copy())
    uv = cal.project(np.array(points)) + np.random.default_rng(0).normal(0, 0.5, (60, 2))

    def verdict(n: int, bound: float):  # type: ignore[no-untyped-def]
        return validate_track(_track(times[:n], uv[:n, 0], uv[:n, 1], area=9.0),
                              ValidationParams(max_prior_cost=bound), cal)

    short = verdict(20, ValidationParams().max_prior_cost)
    assert short.accepted and short.release is not None
    cost = short.release.extras["cost_prior"]
    assert 2.0 < cost < ValidationParams().max_prior_cost
    strict = verdict(20, 2.0)
    assert not strict.accepted and strict.reason.startswith("unlikely flight for a short track")
    long = verdict(60, 2.0)
    assert long.accepted and long.release is not None and long.release.extras["cost_prior"] > cost


def test_two_tracks_that_share_blobs_are_one_object() -> None:
    """A large, slow object split by the tracker into two tracks that overlap in time and share blobs (its whole
    blob taken in turns with its leading band): the first was held for its event; the second, longer one,
    which starts a second before the first ended, replaces it. One event, not two."""
    from edge.falling.detector import FallingDetector
    from edge.frames import Frame

    def at(t: float) -> tuple[float, float]:
        return 300.0 + 15.0 * t, 40.0 + 200.0 * (t + 0.3) ** 2

    det = FallingDetector("test-cam")
    det.process(Frame(0, 0.0, np.zeros((480, 640), np.uint8)))  # sets the detector up
    idx_first = [*range(0, 18), *range(30, 36)]
    first = _track(*(np.array(c) for c in zip(*[(i / FPS, *at(i / FPS)) for i in idx_first], strict=True)))
    verdict = det._validate(first)
    assert verdict.accepted, verdict.reason
    det._pending.append((first, verdict))
    idx_second = range(10, 60)  # shares frames 10–17 and 30–35 with the first
    second = _track(*(np.array(c) for c in zip(*[(i / FPS, *at(i / FPS)) for i in idx_second], strict=True)))
    second.u = [u + (2.0 if 18 <= i < 30 else 0.0) for i, u in zip(idx_second, second.u, strict=True)]
    assert det._validate(second).accepted
    assert det._events([second], now=61 / FPS) == []
    assert len(det._pending) == 1 and det._pending[0][0].t[-1] == second.t[-1]
