"""Serves the web app (``/`` and ``/app/*``) and the routes a browser fetches by itself.

A ``<video>`` element makes its own Range requests and an ``<a download>`` its own GET: neither can send an
``Authorization`` header. Signing in therefore also sets an HttpOnly, SameSite=Strict cookie holding the token
(an API token, or the session token ``POST /api/v1/auth/login`` made, and then expiring with it), scoped to
``/web``; the routes under ``/web`` accept it or a bearer token, and then apply exactly the same site rules as
``/api/v1`` (the handlers of ``server/api/events.py`` are reused, not copied).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api import events as events_api
from server.api.deps import ContextDep, SessionDep, not_found
from server.api.violations import visible_violation
from server.auth import Principal, authenticate
from server.db import AuditEntry, User, utcnow
from server.ingest import snapshot_key
from server.schemas import AuditOut, UserOut, ViolationDetail
from server.web.case_archive import EvidenceFiles, verify_clip, write_case_archive

STATIC_DIR = Path(__file__).parent / "static"
COOKIE = "edgewatch_session"
COOKIE_PATH = "/web"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}

router = APIRouter(include_in_schema=True)
_bearer = HTTPBearer(auto_error=False)


def _static_files() -> dict[str, Path]:
    """Only the files that are there when the server starts can be served: no path ever reaches the disk."""
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


STATIC = _static_files()


def _file(name: str) -> FileResponse:
    path = STATIC.get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    # no-cache: revalidate on every load, so a server upgrade never runs old modules against a new API.
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return _file("index.html")


@router.get("/app/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    return _file(name)


def browser_principal(ctx: ContextDep,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      session_token: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> Principal:
    """The caller from a bearer token or the session cookie; 401 otherwise."""
    token = credentials.credentials if credentials is not None else session_token
    principal = None
    if token:
        with ctx.sessions() as s:
            principal = authenticate(s, token)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    return principal


BrowserPrincipal = Annotated[Principal, Depends(browser_principal)]


class SessionIn(BaseModel):
    token: str = Field(min_length=1, max_length=512,
                       description="an API token an admin issued, or the session token of POST /api/v1/auth/login")


@router.post("/web/session", response_model=UserOut, tags=["web"],
             summary="Sign in with a token: who it is, and a session cookie for media and downloads")
def sign_in(body: SessionIn, request: Request, session: SessionDep) -> Response:
    principal = authenticate(session, body.token)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token: ask an admin for a new one")
    user = session.get(User, principal.user_id)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token: ask an admin for a new one")
    response = Response(UserOut.model_validate(user).model_dump_json(), media_type="application/json")
    # A session token's cookie dies with it; an API token's lasts as long as the browser session.
    max_age = (max(1, int((principal.expires_at - utcnow()).total_seconds()))
               if principal.expires_at is not None else None)
    response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", path=COOKIE_PATH,
                        secure=request.url.scheme == "https", max_age=max_age)
    return response


@router.delete("/web/session", status_code=status.HTTP_204_NO_CONTENT, tags=["web"], summary="Sign out")
def sign_out() -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/web/events/{event_id}/clip", tags=["web"], response_class=StreamingResponse,
            summary="The evidence clip for a <video> (Range requests; cookie or bearer)")
def clip(event_id: str, request: Request, principal: BrowserPrincipal, session: SessionDep,
         ctx: ContextDep) -> Response:
    return events_api.get_clip(event_id, request, principal, session, ctx)


@router.get("/web/events/{event_id}/snapshot", tags=["web"], response_class=Response,
            summary="The snapshot for an <img> (cookie or bearer)")
def snapshot(event_id: str, principal: BrowserPrincipal, session: SessionDep, ctx: ContextDep) -> Response:
    return events_api.get_snapshot(event_id, principal, session, ctx)


class ClipCheck(BaseModel):
    event_id: str
    sha256: str | None = Field(description="sha256 of the stored clip, computed now")
    expected_sha256: str | None = Field(description="the sha256 the edge sent with the event")
    verified: bool


@router.get("/web/events/{event_id}/verify", response_model=ClipCheck, tags=["web"],
            summary="Hash the stored clip now and compare it with the edge's sha256")
def verify(event_id: str, principal: BrowserPrincipal, session: SessionDep, ctx: ContextDep) -> ClipCheck:
    ev = events_api.visible_event(session, principal, event_id)
    key = ev.clip_key if ev.clip_status == "stored" else None
    return ClipCheck(event_id=event_id, **verify_clip(ctx.store, key, ev.clip_sha256))


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/web/violations/{violation_id}/export.zip", tags=["web"], response_class=StreamingResponse,
            summary="The case as one zip: case and event JSON, clips, snapshots, hashes, review history")
def export_case(violation_id: int, principal: BrowserPrincipal, session: SessionDep, ctx: ContextDep) -> Response:
    v = visible_violation(session, principal, violation_id)
    session.refresh(v, ["events"])
    case = ViolationDetail.model_validate(v).model_dump(mode="json")
    audit = [AuditOut.model_validate(a).model_dump(mode="json") for a in session.scalars(
        select(AuditEntry).where(AuditEntry.violation_id == v.id).order_by(AuditEntry.at, AuditEntry.id)).all()]
    files = [EvidenceFiles(event_id=e.event_id, event=e.payload,
                           clip_key=e.clip_key if e.clip_status == "stored" else None, clip_sha256=e.clip_sha256,
                           snapshot_key=snapshot_key(e.site, e.camera_id, e.event_id)) for e in v.events]
    if not files:
        raise not_found("evidence")
    archive = write_case_archive(ctx.store, case, audit, files)
    name = _SAFE_NAME.sub("-", f"edgewatch-case-{v.id}-{v.site}")
    return StreamingResponse(iter(lambda: archive.read(1024 * 1024), b""), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
