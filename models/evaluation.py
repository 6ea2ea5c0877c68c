"""Detection accuracy in numpy: average precision per class at IoU thresholds (COCO-style), from our own boxes.

For each class and IoU threshold, detections of all images are ranked by score; a detection is a true positive
when it overlaps a still-unmatched truth box of its class, in its image, by at least the threshold (the
best-overlapping such box is taken). AP is the area under the precision-recall curve after making precision
monotone (precision at recall r = best precision at any recall ≥ r), sampled at 101 recall points as COCO does.
mAP50 is the mean over classes at IoU 0.5; mAP50-95 the mean over IoU 0.50, 0.55, …, 0.95 as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.postprocess import box_iou

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)


@dataclass(frozen=True)
class ImageTruth:
    boxes: np.ndarray  # (M, 4) xyxy
    class_ids: np.ndarray  # (M,) int


@dataclass(frozen=True)
class ImagePrediction:
    boxes: np.ndarray  # (N, 4) xyxy
    scores: np.ndarray  # (N,)
    class_ids: np.ndarray  # (N,)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under a precision-recall curve (points in rank order), precision made monotone, 101-point sampled."""
    if recall.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    points = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(recall, points, side="left")
    sampled = np.where(idx < recall.size, envelope[np.minimum(idx, recall.size - 1)], 0.0)
    return float(sampled.mean())


def match_class(truths: Sequence[np.ndarray], preds: Sequence[tuple[np.ndarray, np.ndarray]],
                thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One class over all images: ``truths[i]`` (M_i, 4), ``preds[i]`` = (boxes (N_i, 4), scores (N_i,)).
    Returns (scores (N,), true-positive flags (N, T) per threshold, number of truth boxes)."""
    all_scores, all_tp = [], []
    n_truth = 0
    for gt, (boxes, scores) in zip(truths, preds, strict=True):
        n_truth += len(gt)
        order = np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], scores[order]
        tp = np.zeros((len(scores), len(thresholds)), bool)
        if len(gt) and len(boxes):
            iou = box_iou(boxes, gt)
            for t, thr in enumerate(thresholds):
                taken = np.zeros(len(gt), bool)
                for d in range(len(boxes)):
                    candidates = np.where(~taken & (iou[d] >= thr), iou[d], -1.0)
                    g = int(np.argmax(candidates))
                    if candidates[g] >= 0:
                        taken[g] = True
                        tp[d, t] = True
        all_scores.append(scores)
        all_tp.append(tp)
    scores_cat = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp_cat = np.concatenate(all_tp) if all_tp else np.zeros((0, len(thresholds)), bool)
    return scores_cat, tp_cat, n_truth


@dataclass(frozen=True)
class ClassScore:
    ap: np.ndarray  # (T,) AP per IoU threshold
    instances: int

    @property
    def ap50(self) -> float:
        return float(self.ap[0])

    @property
    def ap50_95(self) -> float:
        return float(self.ap.mean())


def evaluate(truth: Sequence[ImageTruth], predictions: Sequence[ImagePrediction], n_classes: int,
             thresholds: np.ndarray = IOU_THRESHOLDS) -> list[ClassScore]:
    """AP per class (index = class id) over a set of images."""
    if len(truth) != len(predictions):
        raise ValueError(f"{len(truth)} truth images but {len(predictions)} predictions")
    result = []
    for c in range(n_classes):
        gts = [t.boxes[t.class_ids == c] for t in truth]
        prs = [(p.boxes[p.class_ids == c], p.scores[p.class_ids == c]) for p in predictions]
        scores, tp, n_truth = match_class(gts, prs, thresholds)
        order = np.argsort(-scores, kind="stable")
        tp = tp[order]
        aps = np.zeros(len(thresholds))
        if n_truth:
            cum_tp = np.cumsum(tp, axis=0)
            cum_fp = np.cumsum(~tp, axis=0)
            for t in range(len(thresholds)):
                recall = cum_tp[:, t] / n_truth
                precision = cum_tp[:, t] / np.maximum(cum_tp[:, t] + cum_fp[:, t], 1)
                aps[t] = average_precision(recall, precision)
        result.append(ClassScore(aps, n_truth))
    return result
