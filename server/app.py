"""The FastAPI application: /api/v1 (every route behind one authorisation dependency), /healthz, /metrics,
OpenAPI at /docs. At start: migrations, the admin bootstrap, and MQTT ingest when configured."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from edgewatch import __version__
from server.api import auth, calibrations, events, health, live, sites, users, violations
from server.api.deps import current_principal
from server.auth import bootstrap_admin
from server.clipstore import LocalClipStore
from server.config import ServerConfig
from server.context import ServerContext
from server.db import make_engine, make_sessionmaker, migrate
from server.ingest import Ingest
from server.mqtt import MqttIngest
from server.rules import load_rules
from server.web import router as web

log = logging.getLogger(__name__)


def open_database(config: ServerConfig) -> tuple[Engine, sessionmaker[Session]]:
    """The database migrated to the newest schema, with the first admin bootstrapped (server start and the
    ``edgewatch server user`` commands share this)."""
    engine = make_engine(config.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        bootstrap_admin(s, config.admin.name, config.admin.token)
    return engine, sessions


def create_context(config: ServerConfig) -> ServerContext:
    """Open the database (migrated to the newest schema), the clip store and the rules; bootstrap the admin."""
    engine, sessions = open_database(config)
    return ServerContext(config=config, rules=load_rules(config.rules), engine=engine, sessions=sessions,
                         store=LocalClipStore(config.clip_dir))


def start_ingest(ctx: ServerContext) -> MqttIngest:
    ingest = Ingest(ctx.sessions, ctx.store, ctx.rules, ctx.config.ingest, publish=lambda ack: None)
    ctx.mqtt = MqttIngest(ctx.config.mqtt, ingest, ctx.config.ingest.sweep_interval_s)
    ctx.mqtt.start()
    return ctx.mqtt


def create_app(ctx: ServerContext, run_ingest: bool | None = None) -> FastAPI:
    """The app over ``ctx``; MQTT ingest runs with the app when ``run_ingest`` (default: the config says)."""
    with_ingest = ctx.config.mqtt.enabled if run_ingest is None else run_ingest

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if with_ingest:
            start_ingest(ctx)
        try:
            yield
        finally:
            if ctx.mqtt is not None:
                ctx.mqtt.stop()

    app = FastAPI(title="edgewatch server", version=__version__, lifespan=lifespan,
                  description="Violations from edge cameras, their evidence clips, and inspectors' reviews.")
    app.state.ctx = ctx
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])
    for router in (violations.router, events.router, sites.cameras, sites.alerts, live.router, users.router,
                   calibrations.router, auth.router):
        api.include_router(router)
    app.include_router(api)
    app.include_router(auth.public, prefix="/api/v1")  # the one /api/v1 route without a token: signing in
    app.include_router(health.router)
    app.include_router(web.router)
    return app
