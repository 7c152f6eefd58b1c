"""later allocation decisions: a backorder filled later, an operator's move (appended to the first)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('allocation_redecisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('why', sa.String(length=300), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('chosen', sa.JSON(), nullable=False),
    sa.Column('filled', sa.JSON(), nullable=False),
    sa.Column('split_reason', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_redecisions'))
    )
    op.create_index(op.f('ix_allocation_redecisions_order_id'), 'allocation_redecisions', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_allocation_redecisions_order_id'), table_name='allocation_redecisions')
    op.drop_table('allocation_redecisions')
