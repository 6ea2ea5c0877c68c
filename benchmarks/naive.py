"""The naive OpenCV pipeline we compare against: VideoCapture → MOG2 → contours → nearest-neighbour tracks.

This is what a first attempt looks like (and what many published demos do): a background subtractor on the
full BGR frame, contours of the foreground mask, each contour centroid joined to the nearest track end, and an
alarm for any track that moves down for a few frames. It exists only as a baseline for benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np


@dataclass
class NaiveTrack:
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (t, u, v)
    reported: bool = False


@dataclass
class NaiveEvent:
    start: float
    end: float
    track: list[tuple[float, float, float]]


class NaivePipeline:
    """Per-frame: MOG2 foreground → contours (area ≥ 2 px) → nearest track within 60 px → alarm after 5 points
    that keep moving down."""

    def __init__(self, min_area: float = 2.0, link_px: float = 60.0, min_points: int = 5) -> None:
        self.mog = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=False)
        self.min_area, self.link_px, self.min_points = min_area, link_px, min_points
        self.tracks: list[NaiveTrack] = []
        self.events: list[NaiveEvent] = []

    def process(self, bgr: np.ndarray, t: float) -> None:
        fg = self.mog.apply(bgr)
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cents = []
        for c in contours:
            if cv2.contourArea(c) < self.min_area and len(c) < 3:
                continue
            m = cv2.moments(c)
            if m["m00"] > 0:
                cents.append((m["m10"] / m["m00"], m["m01"] / m["m00"]))
            else:
                x, y, w, h = cv2.boundingRect(c)
                cents.append((x + w / 2, y + h / 2))
        self.tracks = [tr for tr in self.tracks if t - tr.points[-1][0] < 0.2]
        if not cents:
            return
        c = np.asarray(cents)
        # Nearest track end for every contour at once (numpy), so the baseline is not slowed by Python loops.
        if self.tracks:
            ends = np.array([tr.points[-1][1:] for tr in self.tracks])
            d = np.hypot(c[:, None, 0] - ends[None, :, 0], c[:, None, 1] - ends[None, :, 1])
            nearest = d.argmin(axis=1)
            near_d = d[np.arange(len(c)), nearest]
        else:
            nearest = np.zeros(len(c), int)
            near_d = np.full(len(c), np.inf)
        existing = list(self.tracks)
        for (u, v), j, dj in zip(c.tolist(), nearest.tolist(), near_d.tolist(), strict=True):
            if dj >= self.link_px:
                self.tracks.append(NaiveTrack([(t, u, v)]))
                continue
            best = existing[j]
            best.points.append((t, u, v))
            pts = best.points[-self.min_points:]
            if (not best.reported and len(best.points) >= self.min_points
                    and all(b[2] > a[2] for a, b in pairwise(pts))):
                best.reported = True
                self.events.append(NaiveEvent(best.points[0][0], t, list(best.points)))


def run_naive(video: str, fps: float = 25.0) -> tuple[NaivePipeline, int]:
    """The whole naive pipeline over a file, as a first attempt would write it: VideoCapture → process."""
    cap = cv2.VideoCapture(video)
    pipe = NaivePipeline()
    frames = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        pipe.process(bgr, frames / fps)
        frames += 1
    cap.release()
    return pipe, frames
