"""Camera calibrations saved from the web app: one row per version, with who saved it and when.

Revision ID: 0002_camera_calibrations
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_camera_calibrations"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_calibrations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("calibration", sa.JSON(), nullable=False),
        sa.Column("saved_by", sa.String(64), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("site", "camera_id", "version", name="uq_camera_calibrations_version"),
    )
    op.create_index("ix_camera_calibrations_camera", "camera_calibrations", ["site", "camera_id"])


def downgrade() -> None:
    op.drop_index("ix_camera_calibrations_camera", table_name="camera_calibrations")
    op.drop_table("camera_calibrations")
