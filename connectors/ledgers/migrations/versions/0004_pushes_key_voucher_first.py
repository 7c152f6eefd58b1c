"""pushes keyed by voucher first: (voucher_id, ledger)

Written by hand: autogenerate does not compare a primary key's column order.

Revision ID: 0004
Revises: 0003
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.drop_constraint('pk_ledger_pushes', type_='primary')
        batch_op.create_primary_key('pk_ledger_pushes', ['voucher_id', 'ledger'])


def downgrade() -> None:
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.drop_constraint('pk_ledger_pushes', type_='primary')
        batch_op.create_primary_key('pk_ledger_pushes', ['ledger', 'voucher_id'])
