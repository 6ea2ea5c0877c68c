"""What the kitchen rules read from an object detector: boxes by class name, as numpy arrays.

The rules depend on class *names*, not ids, so any model whose names include ``person``, the head classes
(``chef_hat``, ``bare_head``, ``other_headwear``) and the bin classes (``bin_open``, ``bin_closed``) can drive
them; a model without bin classes simply leaves the bin rule to the model-free mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

PERSON = "person"
HEAD_CLASSES = ("chef_hat", "bare_head", "other_headwear")
"""Every visible head gets one of these; only ``chef_hat`` is compliant."""
BIN_CLASSES = ("bin_open", "bin_closed")


class ModelOutput(Protocol):
    """One image's detections as :class:`models.Detections` holds them."""

    @property
    def boxes(self) -> np.ndarray: ...

    @property
    def scores(self) -> np.ndarray: ...

    @property
    def class_ids(self) -> np.ndarray: ...


class BoxDetector(Protocol):
    """An object detector such as :class:`models.OnnxDetector`."""

    @property
    def names(self) -> Sequence[str]: ...

    def detect(self, images: list[np.ndarray]) -> Sequence[ModelOutput]: ...


@dataclass(frozen=True)
class Boxes:
    """Detections of one class group: ``xyxy`` (N, 4) float pixels, ``scores`` (N,), ``labels`` (N,) str."""

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @staticmethod
    def empty() -> Boxes:
        return Boxes(np.zeros((0, 4), np.float64), np.zeros(0, np.float64), np.zeros(0, dtype="<U16"))

    @staticmethod
    def of(xyxy: object, scores: object, labels: object) -> Boxes:
        b = np.asarray(xyxy, np.float64).reshape(-1, 4)
        s = np.asarray(scores, np.float64).reshape(-1)
        lab = np.asarray(labels, dtype="<U16").reshape(-1)
        if not (len(b) == len(s) == len(lab)):
            raise ValueError(f"boxes, scores and labels differ in length: {len(b)}, {len(s)}, {len(lab)}")
        return Boxes(b, s, lab)

    def subset(self, keep: np.ndarray) -> Boxes:
        return Boxes(self.xyxy[keep], self.scores[keep], self.labels[keep])


@dataclass(frozen=True)
class SceneDetections:
    """One sampled frame's detections, split by what the rules use them for."""

    persons: Boxes
    heads: Boxes
    bins: Boxes

    @staticmethod
    def empty() -> SceneDetections:
        return SceneDetections(Boxes.empty(), Boxes.empty(), Boxes.empty())

    @staticmethod
    def from_model(out: ModelOutput, names: Sequence[str], scale: float = 1.0) -> SceneDetections:
        """Split a model's output by class name; ``scale`` multiplies boxes (model pixels → camera pixels)."""
        ids = np.asarray(out.class_ids, np.int64).reshape(-1)
        table = np.array([*names, ""], dtype="<U16")
        labels = table[np.where((ids >= 0) & (ids < len(names)), ids, len(names))]
        every = Boxes.of(np.asarray(out.boxes, np.float64) * scale, out.scores, labels)
        return SceneDetections(every.subset(labels == PERSON), every.subset(np.isin(labels, HEAD_CLASSES)),
                               every.subset(np.isin(labels, BIN_CLASSES)))
