"""key manager and TLS: Barbican's secrets and containers (km_secrets, km_containers),
Octavia's TLS columns on lb_listeners and lb_pools

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 21:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    return [
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
    ]


def _tls_settings() -> list[sa.Column]:
    return [sa.Column('tls_versions', sa.JSON(), nullable=True),
            sa.Column('tls_ciphers', sa.String(length=2048), nullable=True),
            sa.Column('alpn_protocols', sa.JSON(), nullable=True)]


def upgrade() -> None:
    op.create_table('km_secrets',
    *_common(),
    sa.Column('secret_type', sa.String(length=32), nullable=False),
    sa.Column('algorithm', sa.String(length=255), nullable=True),
    sa.Column('bit_length', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=255), nullable=True),
    sa.Column('expiration', sa.DateTime(), nullable=True),
    sa.Column('payload_content_type', sa.String(length=255), nullable=True),
    sa.Column('encrypted_payload', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_km_secrets_tenant_id', 'km_secrets', ['tenant_id'])
    op.create_table('km_containers',
    *_common(),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('secret_refs', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_km_containers_tenant_id', 'km_containers', ['tenant_id'])
    with op.batch_alter_table('lb_listeners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_tls_container_ref', sa.String(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column('sni_container_refs', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('client_authentication', sa.String(length=16),
                                      nullable=False, server_default='NONE'))
        batch_op.add_column(sa.Column('client_ca_tls_container_ref', sa.String(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column('client_crl_container_ref', sa.String(length=255),
                                      nullable=True))
        for column in _tls_settings():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column('hsts_max_age', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hsts_include_subdomains', sa.Boolean(),
                                      nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('hsts_preload', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('lb_pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tls_enabled', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('tls_container_ref', sa.String(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column('ca_tls_container_ref', sa.String(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column('crl_container_ref', sa.String(length=255),
                                      nullable=True))
        for column in _tls_settings():
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table('lb_pools', schema=None) as batch_op:
        for name in ('tls_enabled', 'tls_container_ref', 'ca_tls_container_ref',
                     'crl_container_ref', 'tls_versions', 'tls_ciphers', 'alpn_protocols'):
            batch_op.drop_column(name)
    with op.batch_alter_table('lb_listeners', schema=None) as batch_op:
        for name in ('default_tls_container_ref', 'sni_container_refs',
                     'client_authentication', 'client_ca_tls_container_ref',
                     'client_crl_container_ref', 'tls_versions', 'tls_ciphers',
                     'alpn_protocols', 'hsts_max_age', 'hsts_include_subdomains',
                     'hsts_preload'):
            batch_op.drop_column(name)
    op.drop_table('km_containers')
    op.drop_table('km_secrets')
