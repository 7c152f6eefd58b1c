"""platform refunds pulled by the shop connectors; what was paid for each published hub line

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_refunds',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('shop', sa.String(length=64), nullable=False),
    sa.Column('refund_id', sa.String(length=64), nullable=False),
    sa.Column('external_order_id', sa.String(length=64), nullable=False),
    sa.Column('line_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.String(length=24), nullable=False),
    sa.Column('goods_return', sa.Boolean(), nullable=False),
    sa.Column('platform_status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('hub_refund_id', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'shop', 'refund_id', name=op.f('pk_platform_refunds'))
    )
    with op.batch_alter_table('platform_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_refunds_outcome'), ['outcome'], unique=False)
    with op.batch_alter_table('published_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_amounts', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('published_versions', schema=None) as batch_op:
        batch_op.drop_column('line_amounts')
    with op.batch_alter_table('platform_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_refunds_outcome'))
    op.drop_table('platform_refunds')
