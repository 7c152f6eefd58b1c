"""parcels: the units of a reservation and of each of its allocations issued so far (an order shipped in
parcels issues a line in parts)

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
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_quantity', sa.BigInteger(), server_default='0', nullable=False))
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_quantity', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_column('issued_quantity')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_column('issued_quantity')
