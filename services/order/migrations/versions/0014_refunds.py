"""refunds: a line's refunded amount, and one row per refund and line (intercepted before shipment, or
refunded without a return after it)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_amount', sa.Numeric(precision=18, scale=2), server_default='0',
                                      nullable=False))
    op.create_table(
        'order_refunds',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_refunds_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_refunds')),
    )
    with op.batch_alter_table('order_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_refunds_order_id'), ['order_id'], unique=False)
    op.create_table(
        'order_refund_lines',
        sa.Column('refund_id', sa.String(length=32), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.CheckConstraint('amount >= 0', name=op.f('ck_order_refund_lines_amount_not_negative')),
        sa.ForeignKeyConstraint(['refund_id'], ['order_refunds.id'],
                                name=op.f('fk_order_refund_lines_refund_id_order_refunds')),
        sa.PrimaryKeyConstraint('refund_id', 'line_no', name=op.f('pk_order_refund_lines')),
    )


def downgrade() -> None:
    op.drop_table('order_refund_lines')
    with op.batch_alter_table('order_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_refunds_order_id'))
    op.drop_table('order_refunds')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('refunded_amount')
