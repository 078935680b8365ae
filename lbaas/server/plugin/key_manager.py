"""The key manager: a subset of Barbican's v1 API (secrets, and containers of secrets)
over the database, for the certificates of TLS listeners and pools (docs/tls.md).

Secrets belong to a project like every other object, but more strictly: only the
project's own callers see them, an admin of another project included (Barbican's
default). Payloads are encrypted at rest with Fernet (AES-128-CBC and HMAC-SHA256, from
``cryptography``) under the server's key (:class:`Vault`); the only ways out are the
payload fetch by the owner and the logical device, which only agents read.

Errors are :class:`lbaas.server.errors.BarbicanFault` (Barbican's body).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m

LOG = logging.getLogger(__name__)

SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
# The content types Barbican stores: text is kept as UTF-8, the rest as bytes.
TEXT = "text/plain"
BINARY = ("application/octet-stream", "application/pkcs8", "application/pkix-cert")
CONTENT_TYPES = (TEXT, *BINARY)
CONTAINER_TYPES = ("generic", "certificate", "rsa")
# The secret names each typed container takes (Barbican's), the first one required.
CONTAINER_SECRETS = {
    "certificate": ("certificate", "private_key", "private_key_passphrase",
                    "intermediates"),
    "rsa": ("public_key", "private_key", "private_key_passphrase"),
}
PAGE_DEFAULT = 10
PAGE_MAX = 100
KEY_FILE = "key_manager.key"
_REF = re.compile(r"/(secrets|containers)/([0-9a-fA-F-]{36})/?$")


# --- the key --------------------------------------------------------------------------

class Vault:
    """Encrypts and decrypts payloads with the configured key: ``[key_manager]
    encryption_key``, else the key file under ``state_path`` (made on first use)."""

    def __init__(self, conf: Any) -> None:
        self._conf = conf
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            key = self._conf.key_manager.encryption_key
            if not key:
                key = _key_file(os.path.join(self._conf.state_path, KEY_FILE))
            try:
                self._fernet = Fernet(key)
            except (ValueError, binascii.Error):
                # The key itself is never logged or answered.
                raise errors.BarbicanFault("The key manager's encryption key is not a "
                                           "valid Fernet key; see docs/tls.md.",
                                           503) from None
        return self._fernet

    def encrypt(self, payload: bytes) -> str:
        return self._key().encrypt(payload).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            return self._key().decrypt(token.encode("ascii"))
        except InvalidToken:
            raise errors.BarbicanFault("The secret was stored under another encryption "
                                       "key and cannot be decrypted.", 500) from None


def _key_file(path: str) -> bytes:
    """The key in ``path``, made (0600, created exclusively: two processes starting
    together agree on one) when there is none."""
    try:
        with open(path, "rb") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            return f.read().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    LOG.warning("key manager: no [key_manager] encryption_key, made a new key in %s "
                "(keep it with the database: the payloads can't be read without it)",
                path)
    return key


# --- refs -----------------------------------------------------------------------------

def base_url(request_base: str, public_endpoint: str | None) -> str:
    base = public_endpoint.rstrip("/") if public_endpoint else request_base.rstrip("/")
    return f"{base}/key-manager/v1"


def parse_ref(ref: str) -> tuple[str, str] | None:
    """``(".../secrets/<uuid>")`` → ``("secrets", uuid)``; None for anything else. The
    host is not compared: the same server answers under several names."""
    found = _REF.search(ref or "")
    return (found.group(1), found.group(2).lower()) if found else None


# --- secrets --------------------------------------------------------------------------

@dataclass
class NewSecret:
    name: str | None
    secret_type: str
    algorithm: str | None
    bit_length: int | None
    mode: str | None
    expiration: dt.datetime | None
    payload: str | None
    payload_content_type: str | None
    payload_content_encoding: str | None


def _payload_bytes(new: NewSecret) -> tuple[bytes | None, str | None]:
    """Barbican's rules for a payload given with the metadata."""
    if new.payload is None:
        if new.payload_content_type or new.payload_content_encoding:
            raise errors.BarbicanFault("Provided object does not match schema 'Secret': "
                                       "payload_content_type is given without a payload")
        return None, None
    if new.payload == "":
        raise errors.BarbicanFault("Provided object does not match schema 'Secret': If "
                                   "'payload' specified, must be non empty")
    content_type = (new.payload_content_type or "").split(";")[0].strip().lower()
    if not content_type:
        raise errors.BarbicanFault("Provided object does not match schema 'Secret': "
                                   "payload_content_type must be given with a payload")
    if content_type not in CONTENT_TYPES:
        raise errors.BarbicanFault(f"Provided object does not match schema 'Secret': "
                                   f"payload_content_type {content_type} is not one of "
                                   f"{', '.join(CONTENT_TYPES)}")
    encoding = (new.payload_content_encoding or "").lower() or None
    if content_type == TEXT:
        if encoding is not None:
            raise errors.BarbicanFault("Provided object does not match schema 'Secret': "
                                       "payload_content_encoding is not allowed for "
                                       "text/plain")
        return new.payload.encode("utf-8"), content_type
    if encoding != "base64":
        raise errors.BarbicanFault("Provided object does not match schema 'Secret': "
                                   "payload_content_encoding must be base64 for "
                                   f"{content_type}")
    try:
        return base64.b64decode(new.payload, validate=True), content_type
    except (binascii.Error, ValueError):
        raise errors.BarbicanFault("Provided object does not match schema 'Secret': the "
                                   "payload is not valid base64") from None


def create_secret(session: Session, ctx: Context, vault: Vault,
                  new: NewSecret) -> m.KmSecret:
    payload, content_type = _payload_bytes(new)
    if new.expiration is not None and new.expiration <= m.utcnow():
        raise errors.BarbicanFault("Invalid date for 'expiration': it is in the past")
    secret = m.KmSecret(
        id=m.new_id(), tenant_id=ctx.project_id, creator_id=ctx.user_id, name=new.name,
        secret_type=new.secret_type, algorithm=new.algorithm, bit_length=new.bit_length,
        mode=new.mode, expiration=new.expiration, payload_content_type=content_type,
        encrypted_payload=vault.encrypt(payload) if payload is not None else None)
    session.add(secret)
    session.flush()
    return secret


def _expired(obj: m.KmSecret) -> bool:
    return obj.expiration is not None and obj.expiration <= m.utcnow()


def get_secret(session: Session, project_id: str, secret_id: str) -> m.KmSecret:
    """The project's secret; another project's, a missing or an expired one is a 404
    (Barbican answers an expired secret as gone)."""
    secret = session.get(m.KmSecret, secret_id.lower())
    if secret is None or secret.tenant_id != project_id or _expired(secret):
        raise errors.BarbicanFault("Secret not found.", 404)
    return secret


def payload_of(vault: Vault, secret: m.KmSecret) -> bytes:
    if secret.encrypted_payload is None:
        raise errors.BarbicanFault("Secret payload not found.", 404)
    return vault.decrypt(secret.encrypted_payload)


def page(session: Session, model: Any, project_id: str, offset: int, limit: int,
         filters: dict[str, Any]) -> tuple[list[Any], int]:
    """One page of the project's objects, oldest first, and how many there are."""
    q = select(model).where(model.tenant_id == project_id)
    for key, value in filters.items():
        q = q.where(getattr(model, key) == value)
    if model is m.KmSecret:
        q = q.where((m.KmSecret.expiration.is_(None)) |
                    (m.KmSecret.expiration > m.utcnow()))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(model.created_at, model.id)
                           .offset(offset).limit(limit)).all()
    return list(rows), total


def users_of(session: Session, project_id: str, kind: str, obj_id: str) -> list[str]:
    """What still uses a secret or container of ``project_id``: the listeners and pools
    whose refs name it, and for a secret the containers that hold it."""
    users: list[str] = []
    for listener in session.scalars(select(m.Listener).where(
            m.Listener.tenant_id == project_id)).all():
        refs = [listener.default_tls_container_ref, listener.client_ca_tls_container_ref,
                listener.client_crl_container_ref, *(listener.sni_container_refs or [])]
        if listener.provisioning_status != "PENDING_DELETE" and _names(refs, kind, obj_id):
            users.append(f"listener {listener.id}")
    for pool in session.scalars(select(m.LbPool).where(
            m.LbPool.tenant_id == project_id)).all():
        refs = [pool.tls_container_ref, pool.ca_tls_container_ref, pool.crl_container_ref]
        if pool.provisioning_status != "PENDING_DELETE" and _names(refs, kind, obj_id):
            users.append(f"pool {pool.id}")
    if kind == "secrets":
        for container in session.scalars(select(m.KmContainer).where(
                m.KmContainer.tenant_id == project_id)).all():
            if any(r.get("secret_id") == obj_id for r in container.secret_refs or []):
                users.append(f"container {container.id}")
    return users


def _names(refs: list[str | None], kind: str, obj_id: str) -> bool:
    return any(parse_ref(r) == (kind, obj_id) for r in refs if r)


def _refuse_in_use(session: Session, project_id: str, kind: str, obj_id: str,
                   what: str) -> None:
    # Barbican would delete it and Octavia's next use would fail (a listener that can't
    # be rebuilt after a failover): refusing is the safe choice (docs/tls.md).
    users = users_of(session, project_id, kind, obj_id)
    if users:
        raise errors.BarbicanFault(f"{what} {obj_id} is in use by {', '.join(users)}; "
                                   f"change or delete them first.", 409)


def delete_secret(session: Session, ctx: Context, secret_id: str) -> None:
    secret = get_secret(session, ctx.project_id, secret_id)
    _refuse_in_use(session, ctx.project_id, "secrets", secret.id, "Secret")
    session.delete(secret)


# --- containers -----------------------------------------------------------------------

def create_container(session: Session, ctx: Context, name: str | None, type_: str,
                     secret_refs: list[dict[str, str]]) -> m.KmContainer:
    allowed = CONTAINER_SECRETS.get(type_)
    seen: set[str] = set()
    refs = []
    for entry in secret_refs:
        ref_name, ref = entry.get("name"), entry.get("secret_ref") or ""
        if allowed is not None and ref_name not in allowed:
            raise errors.BarbicanFault(
                f"Provided object does not match schema 'Container': only "
                f"{', '.join(allowed)} secrets are allowed in a {type_} container, not "
                f"{ref_name!r}")
        key = ref_name or ""
        if allowed is not None and key in seen:
            raise errors.BarbicanFault(f"Provided object does not match schema "
                                       f"'Container': duplicate secret name {key!r}")
        seen.add(key)
        parsed = parse_ref(ref)
        if parsed is None or parsed[0] != "secrets":
            raise errors.BarbicanFault(f"Secret provided for '{ref_name}' doesn't exist.",
                                       404)
        secret = session.get(m.KmSecret, parsed[1])
        if secret is None or secret.tenant_id != ctx.project_id or _expired(secret):
            raise errors.BarbicanFault(f"Secret provided for '{ref_name}' doesn't exist.",
                                       404)
        refs.append({"name": ref_name, "secret_id": secret.id})
    if allowed is not None and allowed[0] not in seen:
        raise errors.BarbicanFault(f"Provided object does not match schema 'Container': "
                                   f"a {type_} container needs a {allowed[0]} secret")
    container = m.KmContainer(id=m.new_id(), tenant_id=ctx.project_id,
                              creator_id=ctx.user_id, name=name, type=type_,
                              secret_refs=refs)
    session.add(container)
    session.flush()
    return container


def get_container(session: Session, project_id: str, container_id: str) -> m.KmContainer:
    container = session.get(m.KmContainer, container_id.lower())
    if container is None or container.tenant_id != project_id:
        raise errors.BarbicanFault("Container not found.", 404)
    return container


def delete_container(session: Session, ctx: Context, container_id: str) -> None:
    container = get_container(session, ctx.project_id, container_id)
    _refuse_in_use(session, ctx.project_id, "containers", container.id, "Container")
    session.delete(container)
