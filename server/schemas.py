"""Request and response bodies of the REST API (they make the OpenAPI document at /docs exact)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.config import ID_PATTERN


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ViolationOut(Out):
    id: int
    site: str
    camera_id: str
    type: str = Field(description="violation type from the rules")
    event_type: str
    severity: str
    building: str | None
    restaurant: str | None
    floor: str | None
    column: str | None
    zone: str | None
    place: str = Field(description='e.g. "Caima block 3, floor 12, column B"')
    first_seen: datetime
    last_seen: datetime
    event_count: int
    status: Literal["open", "confirmed", "dismissed"] | str
    assignee: str | None
    dismiss_reason: str | None
    created_at: datetime
    updated_at: datetime


class EventOut(Out):
    event_id: str
    site: str
    camera_id: str
    type: str
    started_at: datetime
    received_at: datetime
    confidence: float
    floor: str | None
    column: str | None
    zone: str | None
    clip_status: str = Field(description="none | pending | stored | incomplete | corrupt")
    clip_bytes: int | None
    clip_sha256: str | None
    violation_id: int | None
    payload: dict[str, Any] = Field(description="the event as received (contract JSON + wire fields)")


class ViolationDetail(ViolationOut):
    events: list[EventOut]


class ViolationPage(BaseModel):
    items: list[ViolationOut]
    total: int
    limit: int
    offset: int


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "dismiss", "assign", "note", "reopen"]
    reason: str | None = Field(default=None, max_length=2000, description="required to dismiss")
    assignee: str | None = Field(default=None, max_length=64, description="user name, for assign")
    note: str | None = Field(default=None, max_length=4000)


class AuditOut(Out):
    id: int
    violation_id: int
    actor: str
    action: str
    detail: dict[str, Any]
    at: datetime


class CameraOut(Out):
    site: str
    camera_id: str
    state: str | None = Field(description="online | offline (the edge worker is offline, or it is running but "
                                          "its camera's stream is down); null before the first heartbeat")
    heartbeat: dict[str, Any] | None
    last_heartbeat_at: datetime | None
    last_event_at: datetime | None
    offline_reason: str | None = Field(default=None, description="why the camera is offline, for inspectors")

    @model_validator(mode="after")
    def _explain_offline(self) -> CameraOut:
        if self.state == "offline" and self.offline_reason is None:
            beat = self.heartbeat or {}
            if beat.get("stream") == "down" and beat.get("state") != "offline":
                since = beat.get("stream_since")
                self.offline_reason = "camera stream down" + (f" since {since}" if since else "")
            else:
                self.offline_reason = "edge worker offline (stopped, crashed or unreachable)"
        return self


class AlertOut(Out):
    id: int
    site: str
    type: str
    place: str
    count: int
    period_s: float
    first_seen: datetime
    last_seen: datetime
    created_at: datetime


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Literal["inspector", "manager", "admin"]
    sites: list[Annotated[str, Field(pattern=ID_PATTERN, max_length=128)]] = Field(default_factory=list)
    password: str | None = Field(default=None, max_length=1024,
                                 description="optional: lets the user sign in with name and password (8+ characters)")


class UserOut(Out):
    id: int
    name: str
    role: str
    sites: list[str]
    has_password: bool = Field(default=False, description="the user can sign in with a password")


class TokenOut(BaseModel):
    token: str = Field(description="shown once; only its sha256 is stored")
    user: UserOut


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024, description="8 to 1024 characters, not the user name")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    token: str = Field(description="a session token: send it as `Authorization: Bearer <token>` until it expires")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024, description="8 to 1024 characters, not the user name")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    mqtt: str
