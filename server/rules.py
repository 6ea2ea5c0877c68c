"""Violation rules: event type → violation type and severity, camera → site and building or restaurant,
the merge window of a case, and recurrence thresholds (``examples/rules.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgewatch.configfile import format_validation_error, read_yaml
from edgewatch.errors import UserError
from server.config import ID_PATTERN

Severity = Literal["low", "medium", "high", "critical"]


class ViolationRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violation: str = Field(min_length=1, max_length=64, description="violation type shown to inspectors")
    severity: Severity = "medium"


class CameraPlace(BaseModel):
    """Where a camera looks: a building facade (falling objects) or a restaurant kitchen."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(pattern=ID_PATTERN, max_length=128, description="the site the camera belongs to")
    building: str | None = Field(default=None, max_length=200)
    restaurant: str | None = Field(default=None, max_length=200)


class RecurrenceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violation: str = Field(min_length=1, description="violation type counted")
    count: int = Field(ge=2, le=10000, description="this many violations at one place …")
    period_s: float = Field(gt=0, le=366 * 86400, description="… within this period raise an alert")


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merge_window_s: float = Field(default=600.0, ge=0, le=86400,
                                  description="events of one camera/type/place this close form one case")
    violations: dict[str, ViolationRule] = Field(
        default_factory=lambda: {
            "falling_object": ViolationRule(violation="falling_object", severity="high"),
            "missing_chef_hat": ViolationRule(violation="missing_chef_hat", severity="low"),
            "uncovered_bin": ViolationRule(violation="uncovered_bin", severity="medium"),
        },
        description="event type → violation; event types not listed are stored but raise no violation")
    cameras: dict[str, CameraPlace] = Field(default_factory=dict, description="camera_id → place")
    recurrence: list[RecurrenceRule] = Field(default_factory=list)

    def recurrence_for(self, violation: str) -> RecurrenceRule | None:
        return next((r for r in self.recurrence if r.violation == violation), None)


def load_rules(path: str | Path | None) -> Rules:
    if path is None:
        return Rules()
    p = Path(path)
    data = read_yaml(p) or {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of rules, got {type(data).__name__}")
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, str(p))) from None
