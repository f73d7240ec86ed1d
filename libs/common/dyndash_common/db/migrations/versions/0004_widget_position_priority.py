"""Widgets get a grid position and a loading priority; a route may have no template (it then
renders the built-in dashboard layout).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("widgets") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    # Existing widgets keep the order they were shown in: creation order.
    op.execute("UPDATE widgets SET position = id")
    with op.batch_alter_table("routes") as batch:
        batch.alter_column("template_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.alter_column("template_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("widgets") as batch:
        batch.drop_column("priority")
        batch.drop_column("position")
