"""/live: new violations as Server-Sent Events.

Polls the shared database rather than an in-process queue, so a client connected to any replica sees the
violations every replica ingests. Resumes after ``Last-Event-ID`` (the violation id) like any SSE client. The
caller's token is checked again every ``TOKEN_RECHECK_S``: a stream ends once its token is revoked (sign-out, a
password reset) or expires, and the client's reconnect then gets the 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from server.api.deps import ContextDep, PrincipalDep
from server.auth import still_valid
from server.db import Violation
from server.schemas import ViolationOut

router = APIRouter(tags=["live"])

POLL_S = 0.5
KEEPALIVE_S = 15.0
TOKEN_RECHECK_S = 10.0


@router.get("/live", response_class=StreamingResponse,
            summary="Server-Sent Events: `event: violation`, `id:` the violation id, `data:` ViolationOut JSON")
async def live(
    request: Request,
    principal: PrincipalDep,
    ctx: ContextDep,
    after: Annotated[int | None, Query(description="send violations with a larger id (default: only new)")] = None,
    max_events: Annotated[int | None, Query(ge=1, description="close after this many (for scripts)")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    def newest() -> int:
        with ctx.sessions() as s:
            return int(s.scalar(select(func.max(Violation.id))) or 0)

    def fetch(cursor: int) -> list[ViolationOut]:
        with ctx.sessions() as s:
            rows = s.scalars(select(Violation).where(Violation.id > cursor, principal.site_filter(Violation.site))
                             .order_by(Violation.id).limit(100)).all()
            return [ViolationOut.model_validate(r) for r in rows]

    if after is None and last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    start = after if after is not None else await to_thread.run_sync(newest)

    def token_still_valid() -> bool:
        with ctx.sessions() as s:
            return still_valid(s, principal)

    async def stream() -> AsyncIterator[str]:
        cursor, sent, idle = start, 0, 0.0
        checked = time.monotonic()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            if time.monotonic() - checked >= TOKEN_RECHECK_S:
                if not await to_thread.run_sync(token_still_valid):
                    return
                checked = time.monotonic()
            batch = await to_thread.run_sync(fetch, cursor)
            for v in batch:
                cursor = v.id
                yield f"id: {v.id}\nevent: violation\ndata: {v.model_dump_json()}\n\n"
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
            if not batch:
                idle += POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
