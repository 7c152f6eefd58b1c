"""review stage: when the order asked inventory to reserve (order_placed emitted; null: not yet, a
review before reservation holds it) and what that request carries (the channel's priority and ship-by)

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reservation_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('placed_priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('ship_by', sa.DateTime(timezone=True), nullable=True))
    # every order before this asked inventory to reserve when it was placed
    op.execute("UPDATE orders SET reservation_requested_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('ship_by')
        batch_op.drop_column('placed_priority')
        batch_op.drop_column('reservation_requested_at')
