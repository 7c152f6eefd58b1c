"""smart allocation: coverage by region, shop restrictions, the decision per order; order priority
on reservations (backorders are filled by priority, then ship-by, then age)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('allocation_coverage',
    sa.Column('province', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['warehouse'], ['warehouses.code'], name=op.f('fk_allocation_coverage_warehouse_warehouses')),
    sa.PrimaryKeyConstraint('province', 'city', 'warehouse', name=op.f('pk_allocation_coverage'))
    )
    op.create_table('shop_warehouses',
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('shop', sa.String(length=64), nullable=False),
    sa.Column('warehouse', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['warehouse'], ['warehouses.code'], name=op.f('fk_shop_warehouses_warehouse_warehouses')),
    sa.PrimaryKeyConstraint('channel', 'shop', 'warehouse', name=op.f('pk_shop_warehouses'))
    )
    op.create_table('allocation_decisions',
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('shop', sa.String(length=64), nullable=False),
    sa.Column('province', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('chosen', sa.JSON(), nullable=False),
    sa.Column('split_reason', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_allocation_decisions'))
    )
    with op.batch_alter_table('reservations') as batch:
        batch.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('ship_by', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reservations') as batch:
        batch.drop_column('ship_by')
        batch.drop_column('priority')
    op.drop_table('allocation_decisions')
    op.drop_table('shop_warehouses')
    op.drop_table('allocation_coverage')
