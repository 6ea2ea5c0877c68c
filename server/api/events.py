"""/events: one event, its clip (HTTP Range, seekable in a browser's video player) and its snapshot."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from server.api.deps import ContextDep, PrincipalDep, SessionDep, not_found
from server.auth import Principal
from server.db import EventRow
from server.ingest import snapshot_key
from server.ranges import RangeNotSatisfiableError, parse_range
from server.schemas import EventOut

router = APIRouter(prefix="/events", tags=["events"])


def visible_event(session: Session, principal: Principal, event_id: str) -> EventRow:
    ev = session.get(EventRow, event_id)
    if ev is None or not principal.can_see(ev.site):
        raise not_found("event")
    return ev


@router.get("/{event_id}", response_model=EventOut)
def get_event(event_id: str, principal: PrincipalDep,
              session: SessionDep) -> EventOut:
    return EventOut.model_validate(visible_event(session, principal, event_id))


@router.get("/{event_id}/clip", summary="The evidence clip (MP4); honours Range: bytes=…",
            response_class=StreamingResponse, responses={206: {"description": "partial content"},
                                                         416: {"description": "range not satisfiable"}})
def get_clip(event_id: str, request: Request, principal: PrincipalDep,
             session: SessionDep, ctx: ContextDep) -> Response:
    ev = visible_event(session, principal, event_id)
    size = ctx.store.size(ev.clip_key) if ev.clip_key and ev.clip_status == "stored" else None
    if ev.clip_key is None or size is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"clip not available (clip_status {ev.clip_status})")
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{ev.clip_sha256}"',
               "Content-Disposition": f'inline; filename="{event_id}.mp4"'}
    try:
        byte_range = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiableError:
        return Response(status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE,
                        headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = byte_range if byte_range else (0, size - 1)
    headers["Content-Length"] = str(end - start + 1)
    code = status.HTTP_200_OK
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        code = status.HTTP_206_PARTIAL_CONTENT
    return StreamingResponse(ctx.store.range(ev.clip_key, start, end - start + 1), status_code=code,
                             media_type="video/mp4", headers=headers)


@router.get("/{event_id}/snapshot", summary="The event's snapshot (JPEG)", response_class=Response)
def get_snapshot(event_id: str, principal: PrincipalDep,
                 session: SessionDep, ctx: ContextDep) -> Response:
    ev = visible_event(session, principal, event_id)
    key = snapshot_key(ev.site, ev.camera_id, ev.event_id)
    if ctx.store.size(key) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no snapshot for this event")
    with ctx.store.open(key) as f:
        return Response(f.read(), media_type="image/jpeg")
