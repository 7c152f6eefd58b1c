"""waybills: one row per parcel, written before the carrier is asked for its electronic waybill number

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'waybills',
        sa.Column('parcel_key', sa.String(length=48), nullable=False),
        sa.Column('order_id', sa.String(length=32), nullable=False),
        sa.Column('carrier', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('tracking_number', sa.String(length=64), nullable=True),
        sa.Column('get_calls', sa.Integer(), server_default='0', nullable=False),
        sa.Column('lookups', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('parcel_key', name=op.f('pk_waybills')),
    )
    op.create_index(op.f('ix_waybills_order_id'), 'waybills', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_waybills_order_id'), table_name='waybills')
    op.drop_table('waybills')
