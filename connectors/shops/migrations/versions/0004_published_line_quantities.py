"""each published hub line's quantity and what was paid for its goods: a refund with goods back becomes an RMA

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('published_versions') as batch:
        batch.add_column(sa.Column('line_quantities', sa.Text(), server_default='[]', nullable=False))
        batch.add_column(sa.Column('line_goods', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('published_versions') as batch:
        batch.drop_column('line_goods')
        batch.drop_column('line_quantities')
