"""returns and refunds in the customer's history (customer_after_sales)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'customer_after_sales',
        sa.Column('id', sa.String(length=80), nullable=False),
        sa.Column('order_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column('quantity', sa.Integer(), nullable=True),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['customer_orders.order_id'],
                                name=op.f('fk_customer_after_sales_order_id_customer_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_after_sales')),
    )
    op.create_index(op.f('ix_customer_after_sales_order_id'), 'customer_after_sales', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_after_sales_order_id'), table_name='customer_after_sales')
    op.drop_table('customer_after_sales')
