"""incoming inspection: a task per received line that must be inspected, its lot quarantined until the result

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=32), nullable=False),
    sa.Column('purchase_order_id', sa.String(length=32), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('lot', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('passed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('failed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('disposition', sa.String(length=16), server_default='', nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('inspected_by', sa.String(length=64), nullable=True),
    sa.Column('inspected_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_inspections_quantity_positive')),
    sa.CheckConstraint('passed >= 0 AND failed >= 0 AND passed + failed <= quantity',
                       name=op.f('ck_inspections_results_in_range')),
    sa.CheckConstraint("status IN ('open', 'passed', 'failed', 'partial')", name=op.f('ck_inspections_status_known')),
    sa.ForeignKeyConstraint(['sku'], ['skus.code'], name=op.f('fk_inspections_sku_skus')),
    sa.ForeignKeyConstraint(['warehouse'], ['warehouses.code'], name=op.f('fk_inspections_warehouse_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspections'))
    )
    op.create_index(op.f('ix_inspections_receipt_id'), 'inspections', ['receipt_id'], unique=False)
    op.create_index(op.f('ix_inspections_status'), 'inspections', ['status'], unique=False)
    op.create_index(op.f('ix_inspections_supplier'), 'inspections', ['supplier'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inspections_supplier'), table_name='inspections')
    op.drop_index(op.f('ix_inspections_status'), table_name='inspections')
    op.drop_index(op.f('ix_inspections_receipt_id'), table_name='inspections')
    op.drop_table('inspections')
