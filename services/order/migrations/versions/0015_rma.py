"""rma: return documents (requested, received, inspected, refunded or exchanged) and their lines

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rmas',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('warehouse', sa.String(length=32), nullable=True),
        sa.Column('replacement_order_id', sa.String(length=32), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_rmas_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rmas')),
        sa.UniqueConstraint('external_id', name=op.f('uq_rmas_external_id')),
    )
    with op.batch_alter_table('rmas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rmas_order_id'), ['order_id'], unique=False)
    op.create_table(
        'rma_lines',
        sa.Column('rma_id', sa.String(length=32), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('received', sa.Integer(), server_default='0', nullable=False),
        sa.Column('resellable', sa.Integer(), server_default='0', nullable=False),
        sa.Column('damaged', sa.Integer(), server_default='0', nullable=False),
        sa.Column('disposition', sa.String(length=16), server_default='', nullable=False),
        sa.Column('serials', sa.Text(), server_default='[]', nullable=False),
        sa.Column('replacement_sku', sa.String(length=64), server_default='', nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
        sa.CheckConstraint('quantity > 0 AND received >= 0 AND received <= quantity AND resellable >= 0 '
                           'AND damaged >= 0 AND resellable + damaged <= received',
                           name=op.f('ck_rma_lines_quantities_in_range')),
        sa.ForeignKeyConstraint(['rma_id'], ['rmas.id'], name=op.f('fk_rma_lines_rma_id_rmas')),
        sa.PrimaryKeyConstraint('rma_id', 'line_no', name=op.f('pk_rma_lines')),
    )


def downgrade() -> None:
    op.drop_table('rma_lines')
    with op.batch_alter_table('rmas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rmas_order_id'))
    op.drop_table('rmas')
