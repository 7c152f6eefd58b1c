"""inspection results from inventory and the supplier scorecard's grade bands

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspection_results',
    sa.Column('inspection_id', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=32), nullable=False),
    sa.Column('purchase_order_id', sa.String(length=32), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('lot', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('passed', sa.BigInteger(), nullable=False),
    sa.Column('failed', sa.BigInteger(), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=False),
    sa.Column('return_id', sa.String(length=32), nullable=True),
    sa.Column('inspected_by', sa.String(length=64), nullable=False),
    sa.Column('inspected_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('inspection_id', name=op.f('pk_inspection_results'))
    )
    op.create_index(op.f('ix_inspection_results_inspected_at'), 'inspection_results', ['inspected_at'], unique=False)
    op.create_index(op.f('ix_inspection_results_purchase_order_id'), 'inspection_results', ['purchase_order_id'],
                    unique=False)
    op.create_index(op.f('ix_inspection_results_supplier'), 'inspection_results', ['supplier'], unique=False)
    op.create_table('scorecard_config',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scorecard_config'))
    )


def downgrade() -> None:
    op.drop_table('scorecard_config')
    op.drop_index(op.f('ix_inspection_results_supplier'), table_name='inspection_results')
    op.drop_index(op.f('ix_inspection_results_purchase_order_id'), table_name='inspection_results')
    op.drop_index(op.f('ix_inspection_results_inspected_at'), table_name='inspection_results')
    op.drop_table('inspection_results')
