"""/violations: list with filters, one case with its events, review, audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.api.deps import PrincipalDep, SessionDep, not_found
from server.auth import Principal
from server.db import AuditEntry, Violation
from server.review import ReviewError, apply_review
from server.schemas import AuditOut, ReviewIn, ViolationDetail, ViolationOut, ViolationPage

router = APIRouter(prefix="/violations", tags=["violations"])

def visible_violation(session: Session, principal: Principal, violation_id: int) -> Violation:
    v = session.get(Violation, violation_id)
    if v is None or not principal.can_see(v.site):
        raise not_found("violation")
    return v

@router.get("", response_model=ViolationPage, summary="Violations, newest first")
def list_violations(
    principal: PrincipalDep,
    session: SessionDep,
    site: str | None = None,
    type: Annotated[str | None, Query(description="violation type")] = None,
    status_: Annotated[str | None, Query(alias="status", description="open | confirmed | dismissed")] = None,
    building: str | None = None,
    restaurant: str | None = None,
    floor: str | None = None,
    camera_id: str | None = None,
    since: Annotated[datetime | None, Query(description="first_seen ≥ since (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="first_seen < until")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ViolationPage:
    where = [principal.site_filter(Violation.site)]
    for column, value in ((Violation.site, site), (Violation.type, type), (Violation.status, status_),
                          (Violation.building, building), (Violation.restaurant, restaurant),
                          (Violation.floor, floor), (Violation.camera_id, camera_id)):
        if value is not None:
            where.append(column == value)
    if since is not None:
        where.append(Violation.first_seen >= since)
    if until is not None:
        where.append(Violation.first_seen < until)
    total = session.scalar(select(func.count(Violation.id)).where(*where)) or 0
    rows = session.scalars(select(Violation).where(*where)
                           .order_by(Violation.first_seen.desc(), Violation.id.desc())
                           .limit(limit).offset(offset)).all()
    return ViolationPage(items=[ViolationOut.model_validate(r) for r in rows], total=total, limit=limit,
                         offset=offset)

@router.get("/{violation_id}", response_model=ViolationDetail, summary="One violation with its events")
def get_violation(violation_id: int, principal: PrincipalDep,
                  session: SessionDep) -> ViolationDetail:
    v = visible_violation(session, principal, violation_id)
    session.refresh(v, ["events"])
    return ViolationDetail.model_validate(v)

@router.post("/{violation_id}/review", response_model=ViolationOut,
             summary="confirm, dismiss (with reason), assign (managers), note, reopen")
def review_violation(violation_id: int, body: ReviewIn, principal: PrincipalDep,
                     session: SessionDep) -> ViolationOut:
    v = visible_violation(session, principal, violation_id)
    try:
        apply_review(session, v, principal, body.action, body.reason, body.assignee, body.note)
    except ReviewError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except PermissionError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    session.commit()
    return ViolationOut.model_validate(v)

@router.get("/{violation_id}/audit", response_model=list[AuditOut], summary="Audit trail, oldest first")
def audit_trail(violation_id: int, principal: PrincipalDep,
                session: SessionDep) -> list[AuditOut]:
    visible_violation(session, principal, violation_id)
    rows = session.scalars(select(AuditEntry).where(AuditEntry.violation_id == violation_id)
                           .order_by(AuditEntry.at, AuditEntry.id)).all()
    return [AuditOut.model_validate(r) for r in rows]

