"""What one server process holds: settings, rules, database sessions, the clip store and (maybe) MQTT ingest."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.clipstore import ClipStore
from server.config import ServerConfig
from server.mqtt import MqttIngest
from server.rules import Rules


@dataclass
class ServerContext:
    config: ServerConfig
    rules: Rules
    engine: Engine
    sessions: sessionmaker[Session]
    store: ClipStore
    mqtt: MqttIngest | None = None
