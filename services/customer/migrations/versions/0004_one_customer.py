"""one customer across channels: phone hash, merges (audited), tags, notes, tier rules and history,
receivables and payments from the books

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
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('merged_into', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_merged_into'), ['merged_into'], unique=False)
    op.create_table(
        'customer_merges',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=32), nullable=False),
        sa.Column('into_id', sa.String(length=32), nullable=False),
        sa.Column('moved', sa.Text(), nullable=False),
        sa.Column('merged_by', sa.String(length=64), nullable=False),
        sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('why', sa.String(length=500), nullable=False),
        sa.Column('unmerged_by', sa.String(length=64), nullable=True),
        sa.Column('unmerged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('unmerge_why', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merges')),
    )
    op.create_index(op.f('ix_customer_merges_customer_id'), 'customer_merges', ['customer_id'], unique=False)
    op.create_table(
        'customer_audit',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('why', sa.String(length=500), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_audit')),
    )
    op.create_index(op.f('ix_customer_audit_customer_id'), 'customer_audit', ['customer_id'], unique=False)
    op.create_table(
        'customer_tags',
        sa.Column('customer_id', sa.String(length=32), nullable=False),
        sa.Column('tag', sa.String(length=32), nullable=False),
        sa.Column('added_by', sa.String(length=64), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', 'tag', name=op.f('pk_customer_tags')),
    )
    op.create_table(
        'customer_notes',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=32), nullable=False),
        sa.Column('text', sa.String(length=2000), nullable=False),
        sa.Column('written_by', sa.String(length=64), nullable=False),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_notes')),
    )
    op.create_index(op.f('ix_customer_notes_customer_id'), 'customer_notes', ['customer_id'], unique=False)
    op.create_table(
        'tier_rule_sets',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_tier_rule_sets')),
    )
    op.create_table(
        'customer_tier_history',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=32), nullable=False),
        sa.Column('tier', sa.String(length=32), nullable=False),
        sa.Column('previous', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('rule_set_version', sa.Integer(), nullable=True),
        sa.Column('facts', sa.Text(), nullable=False),
        sa.Column('trace', sa.Text(), nullable=False),
        sa.Column('changed_by', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tier_history')),
    )
    op.create_index(op.f('ix_customer_tier_history_customer_id'), 'customer_tier_history', ['customer_id'],
                    unique=False)
    op.create_table(
        'customer_receivables',
        sa.Column('counterparty', sa.String(length=128), nullable=False),
        sa.Column('balance', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('counterparty', name=op.f('pk_customer_receivables')),
    )
    op.create_table(
        'customer_payments',
        sa.Column('id', sa.String(length=80), nullable=False),
        sa.Column('counterparty', sa.String(length=128), nullable=False),
        sa.Column('voucher_id', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_payments')),
    )
    op.create_index(op.f('ix_customer_payments_counterparty'), 'customer_payments', ['counterparty'], unique=False)


def downgrade() -> None:
    for table in ('customer_payments', 'customer_receivables', 'customer_tier_history', 'tier_rule_sets',
                  'customer_notes', 'customer_tags', 'customer_audit', 'customer_merges'):
        op.drop_table(table)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_merged_into'))
        batch_op.drop_index(batch_op.f('ix_customers_phone_hash'))
        batch_op.drop_column('merged_into')
        batch_op.drop_column('phone_hash')
