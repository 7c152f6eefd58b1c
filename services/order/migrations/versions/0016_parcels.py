"""parcels: an order shipped in several parcels (partial shipment); a line's shipped quantity, one row per
parcel (its carrier and tracking number) and per parcel and line (the units and their share of the amount)

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipped_quantity', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'order_parcels',
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('parcel_no', sa.Integer(), nullable=False),
        sa.Column('carrier', sa.String(length=32), nullable=False),
        sa.Column('tracking_number', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('shipped_by', sa.String(length=64), nullable=False),
        sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_parcels_order_id_orders')),
        sa.PrimaryKeyConstraint('order_id', 'parcel_no', name=op.f('pk_order_parcels')),
    )
    op.create_table(
        'order_parcel_lines',
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('parcel_no', sa.Integer(), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.ForeignKeyConstraint(['order_id', 'parcel_no'], ['order_parcels.order_id', 'order_parcels.parcel_no'],
                                name=op.f('fk_order_parcel_lines_order_id_order_parcels')),
        sa.PrimaryKeyConstraint('order_id', 'parcel_no', 'line_no', name=op.f('pk_order_parcel_lines')),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_order_parcel_lines_quantity_positive')),
    )


def downgrade() -> None:
    op.drop_table('order_parcel_lines')
    op.drop_table('order_parcels')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('shipped_quantity')
