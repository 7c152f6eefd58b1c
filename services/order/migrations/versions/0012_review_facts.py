"""review facts: the buyer's message on the order, the SKUs' categories (inventory's sku_changed) and
the customers' open receivables (accounting's voucher_posted), both projections review reads

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buyer_message', sa.String(length=500), server_default='', nullable=False))
    op.create_table(
        'sku_categories',
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sku', name=op.f('pk_sku_categories')),
    )
    op.create_table(
        'customer_receivables',
        sa.Column('counterparty', sa.String(length=128), nullable=False),
        sa.Column('balance', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('counterparty', name=op.f('pk_customer_receivables')),
    )


def downgrade() -> None:
    op.drop_table('customer_receivables')
    op.drop_table('sku_categories')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('buyer_message')
