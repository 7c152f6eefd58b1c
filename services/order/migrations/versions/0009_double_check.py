"""the outbound double check: who confirmed a flagged order's picked goods, and when

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('double_checked_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('double_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('double_checked_at')
        batch_op.drop_column('double_checked_by')
