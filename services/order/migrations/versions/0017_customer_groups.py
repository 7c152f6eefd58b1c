"""customer groups: the customer service's customer each channel buyer belongs to (customer_terms_changed's
group_id), so review adds up one customer's exposure and return rate across channels

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_terms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id', sa.String(length=32), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_customer_terms_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customer_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_terms_customer_id'))
        batch_op.drop_column('customer_id')
