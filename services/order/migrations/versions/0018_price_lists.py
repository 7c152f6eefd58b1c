"""price lists: sales price lists by code (currency, channel and tier scope, validity) and their lines
(SKU, minimum quantity, unit price), which the price look-up and review's below_list_price read

Revision ID: 0018
Revises: 0017
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'price_lists',
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('tier', sa.String(length=32), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_price_lists')),
    )
    op.create_table(
        'price_list_lines',
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('min_quantity', sa.Integer(), nullable=False),
        sa.Column('unit_price', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.ForeignKeyConstraint(['code'], ['price_lists.code'], name=op.f('fk_price_list_lines_code_price_lists')),
        sa.PrimaryKeyConstraint('code', 'sku', 'min_quantity', name=op.f('pk_price_list_lines')),
    )
    op.create_index('ix_price_list_lines_sku', 'price_list_lines', ['sku'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_price_list_lines_sku', table_name='price_list_lines')
    op.drop_table('price_list_lines')
    op.drop_table('price_lists')
