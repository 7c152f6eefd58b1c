"""summary vouchers: is_summary and summary_id on pushes, wider ids, next_attempt_at index

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_vouchers', schema=None) as batch_op:
        batch_op.alter_column('voucher_id', existing_type=sa.String(length=32), type_=sa.String(length=64))
        batch_op.alter_column('number', existing_type=sa.String(length=32), type_=sa.String(length=48))
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.alter_column('voucher_id', existing_type=sa.String(length=32), type_=sa.String(length=64))
        batch_op.alter_column('external_number', existing_type=sa.String(length=40), type_=sa.String(length=48))
        batch_op.add_column(sa.Column('is_summary', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('summary_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_ledger_pushes_summary_id'), ['summary_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_pushes_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ledger_pushes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_pushes_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_ledger_pushes_summary_id'))
        batch_op.drop_column('summary_id')
        batch_op.drop_column('is_summary')
        batch_op.alter_column('external_number', existing_type=sa.String(length=48), type_=sa.String(length=40))
        batch_op.alter_column('voucher_id', existing_type=sa.String(length=64), type_=sa.String(length=32))
    with op.batch_alter_table('ledger_vouchers', schema=None) as batch_op:
        batch_op.alter_column('number', existing_type=sa.String(length=48), type_=sa.String(length=32))
        batch_op.alter_column('voucher_id', existing_type=sa.String(length=64), type_=sa.String(length=32))
