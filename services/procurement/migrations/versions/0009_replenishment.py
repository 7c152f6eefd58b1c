"""replenishment: terms per SKU and warehouse, stock positions and daily sales projected from
inventory's events, demand rule sets, and why a suggestion's quantity (its terms)

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
    with op.batch_alter_table('purchase_suggestions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('terms', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('supplier', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_price', sa.Numeric(precision=18, scale=6), nullable=True))
        batch_op.add_column(sa.Column('rule_set_version', sa.Integer(), nullable=True))
    op.create_table('replenishment_terms',
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), nullable=False),
    sa.Column('review_period_days', sa.Integer(), nullable=False),
    sa.Column('safety_stock', sa.BigInteger(), nullable=False),
    sa.Column('min_order_quantity', sa.BigInteger(), nullable=False),
    sa.Column('order_multiple', sa.BigInteger(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('promotion_factor', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('supplier', sa.String(length=64), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('lead_time_days >= 0 AND review_period_days >= 0 AND safety_stock >= 0', name=op.f('ck_replenishment_terms_terms_not_negative')),
    sa.CheckConstraint('min_order_quantity >= 1 AND order_multiple >= 1', name=op.f('ck_replenishment_terms_order_sizes_positive')),
    sa.PrimaryKeyConstraint('sku', 'warehouse', name=op.f('pk_replenishment_terms'))
    )
    op.create_table('stock_positions',
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('available', sa.BigInteger(), nullable=False),
    sa.Column('in_transit', sa.BigInteger(), nullable=False),
    sa.Column('minimum', sa.BigInteger(), nullable=True),
    sa.Column('maximum', sa.BigInteger(), nullable=True),
    sa.Column('out_since', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'warehouse', name=op.f('pk_stock_positions'))
    )
    op.create_table('daily_sales',
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('stocked_out', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'warehouse', 'day', name=op.f('pk_daily_sales'))
    )
    op.create_table('demand_rule_sets',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_demand_rule_sets'))
    )


def downgrade() -> None:
    op.drop_table('demand_rule_sets')
    op.drop_table('daily_sales')
    op.drop_table('stock_positions')
    op.drop_table('replenishment_terms')
    with op.batch_alter_table('purchase_suggestions', schema=None) as batch_op:
        batch_op.drop_column('rule_set_version')
        batch_op.drop_column('last_price')
        batch_op.drop_column('supplier')
        batch_op.drop_column('terms')
        batch_op.drop_column('basis')
