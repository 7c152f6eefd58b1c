"""unsettled pushes index

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
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_pushes_unsettled', ['ledger', 'next_attempt_at'], unique=False, postgresql_where=sa.text("status IN ('pending', 'pushing', 'rejected')"), sqlite_where=sa.text("status IN ('pending', 'pushing', 'rejected')"))


def downgrade() -> None:
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_pushes_unsettled', postgresql_where=sa.text("status IN ('pending', 'pushing', 'rejected')"), sqlite_where=sa.text("status IN ('pending', 'pushing', 'rejected')"))
