"""Inspectors' decisions on a violation, each one written to the audit trail."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from server.auth import Principal
from server.db import AuditEntry, Violation, utcnow

Action = Literal["confirm", "dismiss", "assign", "note", "reopen"]


class ReviewError(ValueError):
    """The review cannot be applied as asked (the message says why)."""


def apply_review(session: Session, violation: Violation, actor: Principal, action: Action,
                 reason: str | None = None, assignee: str | None = None, note: str | None = None) -> AuditEntry:
    """confirm | dismiss (needs a reason) | assign (managers and admins) | note | reopen."""
    detail: dict[str, str | None] = {}
    if action == "confirm":
        violation.status = "confirmed"
        violation.dismiss_reason = None
    elif action == "dismiss":
        if not reason or not reason.strip():
            raise ReviewError("dismissing needs a reason")
        violation.status, violation.dismiss_reason = "dismissed", reason.strip()
        detail["reason"] = violation.dismiss_reason
    elif action == "assign":
        if not actor.has_role("manager"):
            raise PermissionError("only managers and admins assign violations")
        if not assignee:
            raise ReviewError("assign needs an assignee")
        violation.assignee = assignee
        detail["assignee"] = assignee
    elif action == "note":
        if not note or not note.strip():
            raise ReviewError("a note needs text")
    elif action == "reopen":
        violation.status, violation.dismiss_reason = "open", None
    if note:
        detail["note"] = note
    now = utcnow()
    violation.updated_at = now
    entry = AuditEntry(violation_id=violation.id, actor=actor.name, action=action, detail=detail, at=now)
    session.add(entry)
    session.flush()
    return entry
