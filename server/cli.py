"""`edgewatch server --config server.yaml`: the API, MQTT ingest and the clip store in one process."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "server",
        help="run the server: MQTT ingest, violation tagging, storage and the inspectors' API",
        description="Run the edgewatch server: migrates the database, ingests events and clips from MQTT "
        "(shared subscription, so several replicas may run), and serves the REST API (OpenAPI at /docs). "
        "See docs/server.md and examples/server.yaml.",
    )
    p.add_argument("--config", type=Path, required=True, help="server.yaml (see examples/server.yaml)")
    p.add_argument("--no-ingest", action="store_true", help="serve the API only (no MQTT ingest)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app, create_context
    from server.config import load_config

    config = load_config(args.config)
    logging.getLogger("server").setLevel(config.log_level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = create_context(config)
    app = create_app(ctx, run_ingest=False if args.no_ingest else None)
    uvicorn.run(app, host=config.http.host, port=config.http.port, log_level=config.log_level)
    return 0
