"""goods before invoice (receipts awaiting their invoice) and purchase bills (supplier invoices, landed costs)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invoice_pending', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('receipt_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invoiced', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint('invoiced_at_most_received', 'invoiced >= 0 AND invoiced <= quantity')
    op.create_table('purchase_bills',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('purchase_order_id', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=32), nullable=True),
    sa.Column('supplier', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('charge', sa.String(length=16), server_default='', nullable=False),
    sa.Column('basis', sa.String(length=16), server_default='', nullable=False),
    sa.Column('provisional', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('total_net', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('total_tax', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('total', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('billed_by', sa.String(length=64), nullable=False),
    sa.Column('billed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('supplier_invoice', 'landed_cost')", name=op.f('ck_purchase_bills_kind_known')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'],
                            name=op.f('fk_purchase_bills_purchase_order_id_purchase_orders')),
    sa.ForeignKeyConstraint(['supplier'], ['suppliers.code'], name=op.f('fk_purchase_bills_supplier_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_bills'))
    )
    with op.batch_alter_table('purchase_bills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_bills_purchase_order_id'), ['purchase_order_id'], unique=False)
    op.create_table('purchase_bill_lines',
    sa.Column('bill_id', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=32), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('provisional', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('change', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['bill_id'], ['purchase_bills.id'],
                            name=op.f('fk_purchase_bill_lines_bill_id_purchase_bills')),
    sa.PrimaryKeyConstraint('bill_id', 'receipt_id', 'line_no', name=op.f('pk_purchase_bill_lines'))
    )


def downgrade() -> None:
    op.drop_table('purchase_bill_lines')
    with op.batch_alter_table('purchase_bills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_bills_purchase_order_id'))
    op.drop_table('purchase_bills')
    with op.batch_alter_table('receipt_lines', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_receipt_lines_invoiced_at_most_received'), type_='check')
        batch_op.drop_column('invoiced')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('invoice_pending')
