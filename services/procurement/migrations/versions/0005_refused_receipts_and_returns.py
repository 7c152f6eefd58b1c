"""receipts and returns refused by inventory

Revision ID: 0005_refusals
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_refusals'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ('receipts', 'purchase_returns')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='accepted', nullable=False))
            batch_op.add_column(sa.Column('refused_reason', sa.String(length=500), nullable=True))
            batch_op.add_column(sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.create_check_constraint('status_known', "status IN ('accepted', 'refused')")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_status_known'), type_='check')
            batch_op.drop_column('refused_at')
            batch_op.drop_column('refused_reason')
            batch_op.drop_column('status')
