"""Which head belongs to which person, and whether that person wears a chef hat (smoothed over samples).

A head box (``chef_hat | bare_head | other_headwear``: the head with whatever is on it) belongs to the person
whose box holds it in its top part: the head's centre lies within the person box horizontally, and vertically
between a little above the person's top and ``top_frac`` of the person's height below it. Among several such
persons (people overlap in a busy kitchen) the pairing maximises the share of the head box inside each
person's top part (Hungarian assignment, one head per person), less ``top_weight`` × the distance between the
head's top and the person box's top in person heights: a person's box begins at their own head, and the head of
someone standing behind them, seen past their shoulder, also lies wholly in their top part (with the same
share, the tie went to whichever came first).

A detector often boxes one head twice, once per class it hesitates between (NMS is per class): the
observation of a head is then the best score of each kind among the head boxes on it (IoU ≥ 0.5), so a bare
head at 0.45 that also scored chef_hat 0.29 counts as bare with 0.29 against.

A detector misses or misreads a head now and then, so a person's hat state is the score-weighted vote of their
last ``window`` head observations; a sample with no head (turned away, occluded) leaves the state as it was.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.kitchen.detections import Boxes

HatState = Literal["hat", "no_hat"]


@dataclass(frozen=True)
class HeadParams:
    min_score: float = 0.2
    top_frac: float = 0.35
    """The head lies in this top fraction of the person box."""
    above_frac: float = 0.08
    """…or sticks out above it by this fraction of the person's height (a tall toque cut off by the box)."""
    min_share: float = 0.5
    """At least this fraction of the head box must lie inside the person's top part."""
    top_weight: float = 0.5
    """Weight of |head top − person top| / person height against the share in the pairing."""
    window: int = 3
    """Head observations a hat state is voted from."""


def assign_heads(persons: np.ndarray, heads: Boxes, params: HeadParams) -> dict[int, int]:
    """``{person index: head index}`` for the (N, 4) person boxes and the head detections."""
    keep = np.nonzero(heads.scores >= params.min_score)[0]
    if len(persons) == 0 or len(keep) == 0:
        return {}
    hb = heads.xyxy[keep]
    h = persons[:, 3] - persons[:, 1]
    top = np.stack([persons[:, 0], persons[:, 1] - params.above_frac * h, persons[:, 2],
                    persons[:, 1] + params.top_frac * h], axis=1)
    cx, cy = (hb[:, 0] + hb[:, 2]) / 2, (hb[:, 1] + hb[:, 3]) / 2
    inside = ((cx[None, :] >= top[:, None, 0]) & (cx[None, :] <= top[:, None, 2])
              & (cy[None, :] >= top[:, None, 1]) & (cy[None, :] <= top[:, None, 3]))
    ix = np.clip(np.minimum(hb[None, :, 2], top[:, None, 2]) - np.maximum(hb[None, :, 0], top[:, None, 0]), 0, None)
    iy = np.clip(np.minimum(hb[None, :, 3], top[:, None, 3]) - np.maximum(hb[None, :, 1], top[:, None, 1]), 0, None)
    area = np.maximum((hb[:, 2] - hb[:, 0]) * (hb[:, 3] - hb[:, 1]), 1e-9)
    share = np.where(inside, ix * iy / area[None, :], 0.0)
    off_top = np.abs(hb[None, :, 1] - persons[:, None, 1]) / np.maximum(h[:, None], 1.0)
    rows, cols = linear_sum_assignment(-(share - params.top_weight * off_top * (share > 0)))
    return {int(r): int(keep[c]) for r, c in zip(rows, cols, strict=True) if share[r, c] >= params.min_share}


def head_observation(heads: Boxes, index: int, same_head_iou: float = 0.5) -> tuple[str, float, float]:
    """(label, its score, best score of the other kind) for the head box ``index``, pooling the head boxes of
    other classes that cover the same head. The label is ``chef_hat`` or the better of the non-compliant ones."""
    from models.postprocess import box_iou

    same = box_iou(heads.xyxy[index:index + 1], heads.xyxy)[0] >= same_head_iou
    same[index] = True
    hat = heads.scores[same & (heads.labels == "chef_hat")]
    bare_mask = same & (heads.labels != "chef_hat")
    hat_s = float(hat.max()) if hat.size else 0.0
    bare_s = float(heads.scores[bare_mask].max()) if bare_mask.any() else 0.0
    if hat_s >= bare_s:
        return "chef_hat", hat_s, bare_s
    bare_label = str(heads.labels[bare_mask][int(np.argmax(heads.scores[bare_mask]))])
    return bare_label, bare_s, hat_s


@dataclass
class HatVote:
    """A person's recent head observations and the state they vote for."""

    window: int = 3
    seen: deque[tuple[str, float]] = field(default_factory=deque)
    times: deque[float] = field(default_factory=deque)
    against: deque[float] = field(default_factory=deque)
    """Each observation's best score of the other kind (hat vs no hat)."""

    def add(self, label: str, score: float, t_s: float, against: float = 0.0) -> None:
        self.seen.append((label, score))
        self.times.append(t_s)
        self.against.append(against)
        while len(self.seen) > self.window:
            self.seen.popleft()
            self.times.popleft()
            self.against.popleft()

    @property
    def since_s(self) -> float | None:
        """When the newest run of observations agreeing with the state began (the state's onset, not the
        moment the vote tipped): a condition is timed from when it was first seen."""
        st = self.state
        if st is None:
            return None
        since = None
        for (lab, _), t in zip(reversed(self.seen), reversed(self.times), strict=True):
            if (lab == "chef_hat") != (st == "hat"):
                break
            since = t
        return since

    @property
    def state(self) -> HatState | None:
        """``hat`` / ``no_hat`` by score-weighted vote; None before any head was seen. A tie keeps the newest."""
        if not self.seen:
            return None
        hat = sum(s if lab == "chef_hat" else a for (lab, s), a in zip(self.seen, self.against, strict=True))
        bare = sum(a if lab == "chef_hat" else s for (lab, s), a in zip(self.seen, self.against, strict=True))
        if hat == bare:
            return "hat" if self.seen[-1][0] == "chef_hat" else "no_hat"
        return "hat" if hat > bare else "no_hat"

    @property
    def headwear(self) -> str | None:
        """The newest non-compliant label (``bare_head`` / ``other_headwear``), for the event."""
        return next((lab for lab, _ in reversed(self.seen) if lab != "chef_hat"), None)

    def confidence(self) -> float:
        """Mean score of the observations voting for the current state."""
        st = self.state
        votes = [s for lab, s in self.seen if (lab == "chef_hat") == (st == "hat")]
        return float(np.mean(votes)) if votes else 0.0
