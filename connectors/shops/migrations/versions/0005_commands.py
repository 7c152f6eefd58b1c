"""commands answered once per command id (hubkit.commands): a file's import applied once

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('commands',
    sa.Column('command_id', sa.String(length=64), nullable=False),
    sa.Column('reply_type', sa.String(length=128), nullable=False),
    sa.Column('reply', sa.LargeBinary(), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('command_id', 'reply_type', name=op.f('pk_commands'))
    )


def downgrade() -> None:
    op.drop_table('commands')
