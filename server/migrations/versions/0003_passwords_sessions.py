"""Passwords and sign-in sessions: users get a scrypt password hash, tokens a kind (api | session) and an
expiry, and every password sign-in attempt is recorded (audit and throttling).

Revision ID: 0003_passwords_sessions
Revises: 0002_camera_calibrations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_passwords_sessions"
down_revision = "0002_camera_calibrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode (env.py: render_as_batch) lets SQLite, which cannot ALTER much, do this by copying the table.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="api"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_login_attempts_user", "login_attempts", ["user_name", "at"])
    op.create_index("ix_login_attempts_ip", "login_attempts", ["client_ip", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_ip", table_name="login_attempts")
    op.drop_index("ix_login_attempts_user", table_name="login_attempts")
    op.drop_table("login_attempts")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("kind")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("password_hash")
