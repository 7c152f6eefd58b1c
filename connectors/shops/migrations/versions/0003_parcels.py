"""parcels: one shipment confirmation per parcel (the tracking number in the key), room for JD's
combined carriers and waybills

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
    with op.batch_alter_table('shipment_confirmations', schema=None) as batch_op:
        batch_op.drop_constraint('pk_shipment_confirmations', type_='primary')
        batch_op.alter_column('carrier', existing_type=sa.String(length=32), type_=sa.String(length=200),
                              existing_nullable=False)
        batch_op.alter_column('tracking_number', existing_type=sa.String(length=64), type_=sa.String(length=500),
                              existing_nullable=False)
        batch_op.create_primary_key('pk_shipment_confirmations',
                                    ['platform', 'shop', 'external_order_id', 'tracking_number'])


def downgrade() -> None:
    with op.batch_alter_table('shipment_confirmations', schema=None) as batch_op:
        batch_op.drop_constraint('pk_shipment_confirmations', type_='primary')
        batch_op.alter_column('tracking_number', existing_type=sa.String(length=500), type_=sa.String(length=64),
                              existing_nullable=False)
        batch_op.alter_column('carrier', existing_type=sa.String(length=200), type_=sa.String(length=32),
                              existing_nullable=False)
        batch_op.create_primary_key('pk_shipment_confirmations', ['platform', 'shop', 'external_order_id'])
