"""merge: the orders' merge key (shop, buyer, normalised address) and merge group

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merge_key', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('merge_group', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_merge_key'), ['merge_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_merge_group'), ['merge_group'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_merge_group'))
        batch_op.drop_index(batch_op.f('ix_orders_merge_key'))
        batch_op.drop_column('merge_group')
        batch_op.drop_column('merge_key')
