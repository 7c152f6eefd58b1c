"""the sales facts behind the sales KPIs

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sales_facts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('voucher_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('line_no', sa.Integer(), server_default='0', nullable=False),
    sa.Column('channel', sa.String(length=32), server_default='', nullable=False),
    sa.Column('shop', sa.String(length=64), server_default='', nullable=False),
    sa.Column('region', sa.String(length=64), server_default='', nullable=False),
    sa.Column('category', sa.String(length=64), server_default='', nullable=False),
    sa.Column('sku', sa.String(length=64), server_default='', nullable=False),
    sa.Column('customer', sa.String(length=128), server_default='', nullable=False),
    sa.Column('quantity', sa.Integer(), server_default='0', nullable=False),
    sa.Column('list_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('revenue', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('cogs', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('commission', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('dims_pending', sa.Boolean(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_facts'))
    )
    op.create_index(op.f('ix_sales_facts_day'), 'sales_facts', ['day'], unique=False)
    op.create_index(op.f('ix_sales_facts_order_id'), 'sales_facts', ['order_id'], unique=False)
    op.create_index(op.f('ix_sales_facts_voucher_id'), 'sales_facts', ['voucher_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sales_facts_voucher_id'), table_name='sales_facts')
    op.drop_index(op.f('ix_sales_facts_order_id'), table_name='sales_facts')
    op.drop_index(op.f('ix_sales_facts_day'), table_name='sales_facts')
    op.drop_table('sales_facts')
