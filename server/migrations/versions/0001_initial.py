"""Initial schema: events, clip chunks, violations (cases), alerts, cameras, users, tokens, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("building", sa.String(200)),
        sa.Column("restaurant", sa.String(200)),
        sa.Column("floor", sa.String(64)),
        sa.Column("column", sa.String(64)),
        sa.Column("zone", sa.String(128)),
        sa.Column("place", sa.String(400), nullable=False),
        sa.Column("recurrence_place", sa.String(400), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64)),
        sa.Column("dismiss_reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_violations_site_first_seen", "violations", ["site", "first_seen"])
    op.create_index("ix_violations_case", "violations", ["camera_id", "type", "last_seen"])
    op.create_index("ix_violations_recurrence", "violations", ["type", "recurrence_place", "first_seen"])

    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("floor", sa.String(64)),
        sa.Column("column", sa.String(64)),
        sa.Column("zone", sa.String(128)),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("clip_status", sa.String(16), nullable=False),
        sa.Column("clip_sha256", sa.String(64)),
        sa.Column("clip_bytes", sa.Integer()),
        sa.Column("clip_chunks", sa.Integer(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("clip_key", sa.String(512)),
        sa.Column("snapshot_sha256", sa.String(64)),
        sa.Column("violation_id", sa.Integer(), sa.ForeignKey("violations.id")),
    )
    op.create_index("ix_events_site", "events", ["site"])
    op.create_index("ix_events_violation_id", "events", ["violation_id"])
    op.create_index("ix_events_clip_status_received", "events", ["clip_status", "received_at"])

    op.create_table(
        "clip_chunks",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("place", sa.String(400), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("period_s", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_alerts_site", "alerts", ["site"])
    op.create_index("ix_alerts_place", "alerts", ["type", "place", "last_seen"])

    op.create_table(
        "cameras",
        sa.Column("site", sa.String(128), primary_key=True),
        sa.Column("camera_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16)),
        sa.Column("heartbeat", sa.JSON()),
        sa.Column("last_heartbeat_at", sa.DateTime()),
        sa.Column("last_event_at", sa.DateTime()),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("violation_id", sa.Integer(), sa.ForeignKey("violations.id"), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_audit_violation_id", "audit", ["violation_id"])


def downgrade() -> None:
    for table in ("audit", "api_tokens", "users", "cameras", "alerts", "clip_chunks", "events", "violations"):
        op.drop_table(table)
