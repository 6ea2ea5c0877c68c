"""From a YOLO head's raw output to boxes: confidence filter, class-wise non-maximum suppression.

Ultralytics detection models (YOLOv5u, v8, 11) exported to ONNX output ``(B, 4 + nc, anchors)``: per anchor the box
centre, width and height in input pixels, then one sigmoid score per class (no separate objectness).
"""

from __future__ import annotations

import numpy as np


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre-size boxes to corner boxes."""
    out = np.empty_like(boxes)
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    out[:, 0] = boxes[:, 0] - half_w
    out[:, 1] = boxes[:, 1] - half_h
    out[:, 2] = boxes[:, 0] + half_w
    out[:, 3] = boxes[:, 1] + half_h
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of ``xyxy`` boxes ``a`` (N, 4) and ``b`` (M, 4): intersection area / union area."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, best first. A box is dropped when its IoU
    with a kept, higher-scoring box exceeds ``iou``."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        overlap = box_iou(boxes[best:best + 1], boxes[rest])[0]
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> np.ndarray:
    """Class-wise NMS: boxes of different classes never suppress each other. Each class's boxes are shifted
    to their own region of the plane (farther apart than any box is large), so one NMS pass does all classes."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    span = float(np.max(boxes[:, 2:]) - min(0.0, float(np.min(boxes[:, :2])))) + 1.0
    shifted = boxes + (class_ids.astype(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, iou)


def decode(output: np.ndarray, conf: float, iou: float, max_det: int = 300,
           max_candidates: int = 30000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's head output (4 + nc, anchors) to ``(boxes xyxy float32 (N, 4), scores float32 (N,),
    class_ids int64 (N,))`` in input pixels, best first: each anchor keeps its best class if that scores at
    least ``conf``; then class-wise NMS at ``iou``; at most ``max_det`` boxes."""
    if output.ndim != 2 or output.shape[0] < 5:
        raise ValueError(f"expected a YOLO head output of shape (4 + nc, anchors), got {output.shape}")
    class_scores = output[4:]
    class_ids = np.argmax(class_scores, axis=0)
    scores = class_scores[class_ids, np.arange(class_scores.shape[1])]
    candidates = np.flatnonzero(scores >= conf)
    if candidates.size > max_candidates:
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")[:max_candidates]]
    boxes = cxcywh_to_xyxy(output[:4, candidates].T.astype(np.float32))
    scores = scores[candidates].astype(np.float32)
    class_ids = class_ids[candidates].astype(np.int64)
    keep = batched_nms(boxes, scores, class_ids, iou)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]
