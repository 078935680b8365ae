"""neutron quotas: per-project overrides of the v1 quotas (/v2.0/quotas)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quotas',
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('limit', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'resource')
    )


def downgrade() -> None:
    op.drop_table('quotas')
