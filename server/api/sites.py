"""/cameras (with their last heartbeat) and /alerts (recurrences), scoped to the caller's sites."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from server.api.deps import PrincipalDep, SessionDep
from server.db import Alert, Camera
from server.schemas import AlertOut, CameraOut

cameras = APIRouter(prefix="/cameras", tags=["cameras"])
alerts = APIRouter(prefix="/alerts", tags=["alerts"])


@cameras.get("", response_model=list[CameraOut], summary="Cameras with their last heartbeat")
def list_cameras(principal: PrincipalDep, session: SessionDep, site: str | None = None) -> list[CameraOut]:
    q = select(Camera).where(principal.site_filter(Camera.site)).order_by(Camera.site, Camera.camera_id)
    if site is not None:
        q = q.where(Camera.site == site)
    return [CameraOut.model_validate(c) for c in session.scalars(q).all()]


@alerts.get("", response_model=list[AlertOut], summary="Recurrence alerts, newest first")
def list_alerts(principal: PrincipalDep, session: SessionDep, site: str | None = None,
                type: str | None = None, limit: int = 100) -> list[AlertOut]:
    q = select(Alert).where(principal.site_filter(Alert.site))
    if site is not None:
        q = q.where(Alert.site == site)
    if type is not None:
        q = q.where(Alert.type == type)
    rows = session.scalars(q.order_by(Alert.last_seen.desc()).limit(max(1, min(limit, 1000)))).all()
    return [AlertOut.model_validate(a) for a in rows]
