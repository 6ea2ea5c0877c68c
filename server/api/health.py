"""/healthz and /metrics: unauthenticated, outside /api/v1, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select, text

from server.api.deps import ContextDep
from server.db import EventRow, Violation
from server.metrics import COUNTERS
from server.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(ctx: ContextDep) -> JSONResponse:
    try:
        with ctx.sessions() as s:
            s.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    mqtt = "disabled" if ctx.mqtt is None else "connected" if ctx.mqtt.connected.is_set() else "disconnected"
    ok = database == "ok" and mqtt != "disconnected"
    body = Health(status="ok" if ok else "degraded", database=database, mqtt=mqtt)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus text format")
def metrics(ctx: ContextDep) -> PlainTextResponse:
    with ctx.sessions() as s:
        by_status = s.execute(select(Violation.status, func.count()).group_by(Violation.status)).all()
        by_clip = s.execute(select(EventRow.clip_status, func.count()).group_by(EventRow.clip_status)).all()
    gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {
        "edgewatch_violations": ("violations in the database, by status",
                                 {(("status", str(k)),): float(n) for k, n in by_status}),
        "edgewatch_events": ("events in the database, by clip status",
                             {(("clip_status", str(k)),): float(n) for k, n in by_clip}),
    }
    return PlainTextResponse(COUNTERS.render(gauges), media_type="text/plain; version=0.0.4")
