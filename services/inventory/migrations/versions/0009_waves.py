"""pick waves: waves, their orders, and their pick lists

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
    op.create_table('waves',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['warehouse'], ['warehouses.code'], name=op.f('fk_waves_warehouse_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waves'))
    )
    op.create_index(op.f('ix_waves_warehouse'), 'waves', ['warehouse'], unique=False)
    op.create_table('wave_orders',
    sa.Column('wave_id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('packed_by', sa.String(length=64), nullable=True),
    sa.Column('packed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_wave_orders_wave_id_waves')),
    sa.PrimaryKeyConstraint('wave_id', 'order_id', name=op.f('pk_wave_orders'))
    )
    op.create_index(op.f('ix_wave_orders_order_id'), 'wave_orders', ['order_id'], unique=False)
    op.create_table('wave_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('wave_id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('bin', sa.String(length=32), nullable=False),
    sa.Column('lot', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('packed', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('quantity > 0 AND packed >= 0 AND packed <= quantity', name=op.f('ck_wave_lines_packed_in_range')),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_wave_lines_wave_id_waves')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wave_lines'))
    )
    op.create_index(op.f('ix_wave_lines_wave_id'), 'wave_lines', ['wave_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_wave_lines_wave_id'), table_name='wave_lines')
    op.drop_table('wave_lines')
    op.drop_index(op.f('ix_wave_orders_order_id'), table_name='wave_orders')
    op.drop_table('wave_orders')
    op.drop_index(op.f('ix_waves_warehouse'), table_name='waves')
    op.drop_table('waves')
