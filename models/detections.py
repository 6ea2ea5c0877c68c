"""One image's detections as arrays: what every detector wrapper returns and every rule consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes of one image, in that image's pixels.

    ``boxes`` is float32 (N, 4) ``[x1, y1, x2, y2]``, ``scores`` float32 (N,), ``class_ids`` int64 (N,) indexing
    ``names``. Rows are sorted by descending score.

    >>> d = Detections(np.array([[0, 0, 10, 20]], np.float32), np.array([0.9], np.float32),
    ...                np.array([0], np.int64), ("person", "chef_hat"))
    >>> d.of("person").boxes.tolist(), len(d.of("chef_hat"))
    ([[0.0, 0.0, 10.0, 20.0]], 0)
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.class_ids.shape != (n,):
            raise ValueError(f"Detections: boxes {self.boxes.shape}, scores {self.scores.shape} and class_ids "
                             f"{self.class_ids.shape} must be (N, 4), (N,) and (N,)")

    @classmethod
    def empty(cls, names: tuple[str, ...] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), names)

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask: np.ndarray) -> Detections:
        """The rows where ``mask`` (bool (N,) or indices) selects."""
        return Detections(self.boxes[mask], self.scores[mask], self.class_ids[mask], self.names)

    def of(self, *names: str) -> Detections:
        """Only the detections of the named classes, e.g. ``dets.of("bin_open", "bin_closed")``."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"unknown class {unknown[0]!r}; this model's classes are {', '.join(self.names)}")
        ids = [self.names.index(n) for n in names]
        return self.select(np.isin(self.class_ids, ids))

    def labels(self) -> list[str]:
        """Class name of each row."""
        return [self.names[int(c)] for c in self.class_ids]
