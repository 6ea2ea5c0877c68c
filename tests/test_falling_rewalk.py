"""Walking a short track's path again through the recent motion candidates (edge.falling.rewalk)."""

from __future__ import annotations

import numpy as np

from edge.falling.motion import Candidates
from edge.falling.rewalk import CandidateHistory, RewalkParams, rewalk, smooth_core
from edge.falling.tracker import Track

FPS = 25.0


def fall(t: float) -> tuple[float, float]:
    """A fall in the image: 30 px/s sideways, 100 px/s and 800 px/s² down."""
    return 400.0 + 30.0 * t, 100.0 + 100.0 * t + 400.0 * t * t


def one(u: float, v: float, area: float = 36.0) -> Candidates:
    return Candidates(np.array([u]), np.array([v]), np.array([area]), np.array([30.0]), np.array([6.0]))


def track_of(points: list[tuple[float, float, float]]) -> Track:
    tr = Track(0)
    for t, u, v in points:
        tr.add(t, one(u, v), 0)
    return tr


def test_the_core_leaves_out_a_raindrop_the_track_began_on() -> None:
    """The tracker seeded the track on a raindrop 40 px beside the object, then moved to the object: the core
    is the five points on the object."""
    ts = np.arange(7) / FPS
    pts = [(float(t), *fall(float(t))) for t in ts]
    pts[0] = (pts[0][0], pts[0][1] - 40.0, pts[0][2] + 25.0)
    pts[1] = (pts[1][0], pts[1][1] - 35.0, pts[1][2] + 10.0)
    assert smooth_core(track_of(pts), RewalkParams()) == (2, 7)


def test_a_long_track_is_not_a_short_piece_and_is_not_fitted() -> None:
    """Every run of every length is fitted at once, O(n³) memory: a track longer than ``max_points`` (a bird
    tracked for seconds, rejected as sparse) is left alone rather than costing the edge box hundreds of MB."""
    pts = [(i / FPS, *fall(i / FPS)) for i in range(65)]
    assert smooth_core(track_of(pts[:64]), RewalkParams()) == (0, 64)
    assert smooth_core(track_of(pts), RewalkParams()) is None


def test_the_walk_takes_the_objects_blobs_whichever_track_had_them() -> None:
    """Twenty frames of candidates: the object (with 0.5-px centroid noise) among raindrops, and in two frames
    not found at all. A five-point piece from the middle of the fall is walked back to the first frame and on
    to the last, past the missing frames, and takes no raindrop."""
    rng = np.random.default_rng(3)
    hist = CandidateHistory(RewalkParams())
    truth = {}
    for i in range(20):
        t = i / FPS
        u, v = fall(t)
        u, v = u + rng.normal(0, 0.5), v + rng.normal(0, 0.5)
        truth[round(t, 3)] = (u, v)
        rain_u, rain_v = rng.uniform(0, 800, 30), rng.uniform(0, 600, 30)
        far = np.hypot(rain_u - u, rain_v - v) > 25.0  # raindrops, none on the object itself
        us = np.concatenate([rain_u[far], [u]] if i not in (6, 14) else [rain_u[far]])
        vs = np.concatenate([rain_v[far], [v]] if i not in (6, 14) else [rain_v[far]])
        hist.push(t, Candidates(us, vs, np.full(us.size, 36.0), np.full(us.size, 30.0), np.full(us.size, 6.0)))
    piece = track_of([(i / FPS, *truth[round(i / FPS, 3)]) for i in range(9, 14)])
    walked = rewalk(piece, hist, lambda u, v: np.array([0.0, 1.0]), RewalkParams())
    assert walked is not None
    assert [round(t * FPS) for t in walked.t] == [i for i in range(20) if i not in (6, 14)]
    for t, u, v in zip(walked.t, walked.u, walked.v, strict=True):
        assert np.hypot(u - truth[round(t, 3)][0], v - truth[round(t, 3)][1]) < 1e-9


def test_a_piece_moving_sideways_is_not_walked() -> None:
    """A bird's straight, smooth flight is no fall: it is not walked (nor is any rejected piece that does not
    move within 70° of down)."""
    hist = CandidateHistory(RewalkParams())
    for i in range(20):
        hist.push(i / FPS, one(100.0 + 200.0 * i / FPS, 300.0))
    piece = track_of([(i / FPS, 100.0 + 200.0 * i / FPS, 300.0) for i in range(9, 14)])
    assert rewalk(piece, hist, lambda u, v: np.array([0.0, 1.0]), RewalkParams()) is None


def test_a_walked_piece_that_continues_a_held_fall_joins_its_event() -> None:
    """A fall accepted and held (0–0.6 s); its continuation broke into short tracks, one of which began on three
    raindrops 45 px beside the object, so it neither continues the held track nor passes alone. Walked through
    the candidates from its five points on the object, it spans 0.64–1.2 s and joins the held event: one event,
    not a second one for the same object."""
    from edge.falling.detector import FallingDetector
    from edge.frames import Frame

    def at(t: float) -> tuple[float, float]:
        return 300.0 + 15.0 * t, 40.0 + 200.0 * (t + 0.3) ** 2

    det = FallingDetector("test-cam")
    det.process(Frame(0, 0.0, np.zeros((480, 640), np.uint8)))  # sets the detector up
    held = track_of([(i / FPS, *at(i / FPS)) for i in range(16)])
    verdict = det._validate(held)
    assert verdict.accepted, verdict.reason
    det._pending.append((held, verdict))
    for i in range(16, 31):
        det._candidates.push(i / FPS, one(*at(i / FPS)))
    piece = track_of([(i / FPS, at(i / FPS)[0] + (45.0 if i < 25 else 0.0), at(i / FPS)[1]) for i in range(22, 30)])
    assert not det._continues(held, verdict, piece) and not det._validate(piece).accepted
    assert det._events([piece], now=31 / FPS) == []
    assert len(det._pending) == 1
    joined, _ = det._pending[0]
    assert round(joined.t[-1] * FPS) == 30 and len(joined) == 31


def test_a_seed_that_takes_a_far_blob_can_leave_a_new_seed_on_it() -> None:
    """``TrackerParams.reseed_px`` (off by default, docs/benchmarks.md): a clutter seed at (100, 100) takes an
    object's first blob 20 px away, and without reseeding also its next (the young track's gate is wide): one
    chain of clutter and object. With reseeding the blob also starts a track of its own, whose nearer guess
    takes the object's next blob."""
    from edge.falling.tracker import Tracker, TrackerParams

    def frame(*uv: tuple[float, float]) -> Candidates:
        u, v = (np.array(x, np.float64) for x in zip(*uv, strict=True))
        ones = np.ones(len(uv))
        return Candidates(u, v, 4 * ones, 20 * ones, 2 * ones)

    for reseed, tracks in ((0.0, [[(100.0, 100.0), (100.0, 120.0), (101.0, 124.0)]]),
                           (8.0, [[(100.0, 100.0), (100.0, 120.0)], [(100.0, 120.0), (101.0, 124.0)]])):
        tracker = Tracker(image_h=480, params=TrackerParams(reseed_px=reseed))
        tracker.update(0.00, frame((100.0, 100.0)))
        tracker.update(0.04, frame((100.0, 120.0)))
        tracker.update(0.08, frame((101.0, 124.0)))
        got = [list(zip(tr.u, tr.v, strict=True)) for tr in tracker.flush() if len(tr) > 1]
        assert sorted(got) == sorted(tracks)
