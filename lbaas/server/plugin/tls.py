"""Certificates from key manager refs, for TERMINATED_HTTPS listeners and TLS pools
(docs/tls.md): what Octavia accepts, checked the way Octavia checks it, and resolved into
what the agent renders (``lbaas.common.logical_device.TlsCertificate``, PEM bundles).

A certificate ref is either a ``certificate`` container (secrets named certificate,
private_key, intermediates, private_key_passphrase) or a secret holding a PKCS#12 bundle
(the DER bytes, or their base64 text), as Octavia's Barbican certificate manager takes.
A CA or CRL ref is a secret holding PEM (a CA bundle may hold several certificates).

Expired certificates are accepted, as Octavia accepts them (its certificate parser
checks the PEM, the key and the key's match, never the dates): renewing one is a change
of the secret's content the user makes on their own schedule.

Every error names the ref and never quotes a payload.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from sqlalchemy.orm import Session

from lbaas.common import limits
from lbaas.server import errors
from lbaas.server.db import models as m
from lbaas.server.plugin import key_manager as km

TERMINATED_HTTPS = "TERMINATED_HTTPS"
# Octavia's client certificate headers: only on TERMINATED_HTTPS listeners.
SSL_HEADERS = ("X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN",
               "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1",
               "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After")


class TlsRefError(Exception):
    """A ref Octavia would refuse; the message names it (an Octavia 400)."""


@dataclass(frozen=True)
class Certificate:
    id: str
    certificate: str
    private_key: str = field(repr=False)
    intermediates: list[str]
    names: list[str]


def _retrieval_error(ref: str, why: str) -> TlsRefError:
    # Octavia's words ("Could not retrieve certificate: [refs]"), with the reason.
    return TlsRefError(f"Could not retrieve certificate: ['{ref}'] ({why})")


def _secret_bytes(session: Session, vault: km.Vault, project_id: str, ref: str,
                  secret_id: str) -> bytes:
    try:
        secret = km.get_secret(session, project_id, secret_id)
        return km.payload_of(vault, secret)
    except errors.BarbicanFault as exc:
        if exc.status_code >= 500:
            raise
        raise _retrieval_error(ref, "no such secret") from None


def _parsed(ref: str) -> tuple[str, str]:
    parsed = km.parse_ref(ref)
    if parsed is None:
        raise _retrieval_error(ref, "not a key manager secret or container ref")
    return parsed


# --- certificate and key --------------------------------------------------------------

def load_certificate(session: Session, vault: km.Vault, project_id: str,
                     ref: str) -> Certificate:
    """The certificate, its key (unencrypted) and chain a ref names, checked."""
    kind, obj_id = _parsed(ref)
    if kind == "containers":
        return _from_container(session, vault, project_id, ref, obj_id)
    return _from_pkcs12(ref, obj_id, _secret_bytes(session, vault, project_id, ref, obj_id))


def _from_container(session: Session, vault: km.Vault, project_id: str, ref: str,
                    container_id: str) -> Certificate:
    try:
        container = km.get_container(session, project_id, container_id)
    except errors.BarbicanFault:
        raise _retrieval_error(ref, "no such container") from None
    if container.type != "certificate":
        raise _retrieval_error(ref, f"a {container.type} container, not a certificate "
                                    f"container")
    parts = {r["name"]: _secret_bytes(session, vault, project_id, ref, r["secret_id"])
             for r in container.secret_refs or []}
    if "certificate" not in parts or "private_key" not in parts:
        raise _retrieval_error(ref, "the container needs a certificate and a private_key")
    cert = _x509(parts["certificate"], ref, "certificate")
    passphrase = parts.get("private_key_passphrase")
    key = _private_key(parts["private_key"], passphrase, ref)
    intermediates = _intermediates(parts["intermediates"], ref) \
        if parts.get("intermediates") else []
    return _checked(ref, container_id, cert, key, intermediates)


def _from_pkcs12(ref: str, secret_id: str, data: bytes) -> Certificate:
    bundle = None
    for candidate in (data, _unbase64(data)):
        if candidate is None:
            continue
        try:
            bundle = pkcs12.load_key_and_certificates(candidate, None)
            break
        except (ValueError, TypeError):
            continue
    if bundle is None:
        raise _retrieval_error(ref, "the secret is not a PKCS#12 bundle without a "
                                    "passphrase")
    key, cert, extra = bundle
    if cert is None or key is None:
        raise _retrieval_error(ref, "the PKCS#12 bundle needs a certificate and its key")
    return _checked(ref, secret_id, cert, key, list(extra or []))


def _unbase64(data: bytes) -> bytes | None:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _x509(data: bytes, ref: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        pass
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise _retrieval_error(ref, f"the {what} is not an X.509 certificate "
                                    f"(PEM or DER)") from None


def _private_key(data: bytes, passphrase: bytes | None, ref: str) -> object:
    try:
        return serialization.load_pem_private_key(data, passphrase or None)
    except TypeError:
        why = ("the private key is encrypted and no private_key_passphrase is given"
               if not passphrase else "the private key is not encrypted but a "
                                      "private_key_passphrase is given")
        raise _retrieval_error(ref, why) from None
    except ValueError:
        if passphrase:
            raise _retrieval_error(ref, "the private key can't be decrypted with the "
                                        "private_key_passphrase") from None
    try:
        return serialization.load_der_private_key(data, None)
    except (ValueError, TypeError):
        raise _retrieval_error(ref, "the private key is not a PEM or DER private "
                                    "key") from None


def _intermediates(data: bytes, ref: str) -> list[x509.Certificate]:
    """PEM certificates one after another, or a PKCS#7 bundle (PEM or DER), as
    Octavia takes them."""
    loaders = (x509.load_pem_x509_certificates, pkcs7.load_pem_pkcs7_certificates,
               pkcs7.load_der_pkcs7_certificates)
    for load in loaders:
        try:
            certs = load(data)
        except ValueError:
            continue
        if certs:
            return list(certs)
    raise _retrieval_error(ref, "the intermediates are not PEM or PKCS#7 certificates")


def _public(obj: object) -> bytes:
    public = obj.public_key()  # type: ignore[attr-defined]
    return bytes(public.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))


def _checked(ref: str, obj_id: str, cert: x509.Certificate, key: object,
             intermediates: list[x509.Certificate]) -> Certificate:
    try:
        key_public = _public(key)
        cert_public = _public(cert)
    except (TypeError, ValueError, AttributeError):
        raise _retrieval_error(ref, "the certificate's key type is not supported") from None
    if key_public != cert_public:
        raise _retrieval_error(ref, "the private key does not match the certificate")
    pem = serialization.Encoding.PEM
    private = key.private_bytes(  # type: ignore[attr-defined]
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Certificate(
        id=obj_id, certificate=cert.public_bytes(pem).decode("ascii"),
        private_key=bytes(private).decode("ascii"),
        intermediates=[c.public_bytes(pem).decode("ascii") for c in intermediates],
        names=names_of(cert))


def names_of(cert: x509.Certificate) -> list[str]:
    """The subject's CN and the DNS SANs, lower case, each once, those that can be an
    SNI name (others can never match a client's server name)."""
    names: list[str] = []
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        names.append(str(attr.value).lower())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.extend(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    out: list[str] = []
    for name in names:
        try:
            limits.sni_name(name)
        except ValueError:
            continue
        if name not in out:
            out.append(name)
    return out


# --- CA and CRL bundles ---------------------------------------------------------------

def load_ca(session: Session, vault: km.Vault, project_id: str, ref: str) -> str:
    """The PEM bundle of CA certificates a secret ref holds."""
    kind, obj_id = _parsed(ref)
    if kind != "secrets":
        raise _retrieval_error(ref, "a CA certificate is a secret, not a container")
    data = _secret_bytes(session, vault, project_id, ref, obj_id)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise _retrieval_error(ref, "the secret is not PEM or DER X.509 "
                                        "certificates") from None
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                   for c in certs)


def load_crl(session: Session, vault: km.Vault, project_id: str, ref: str,
             ca_pem: str) -> str:
    """The PEM CRL a secret ref holds, which one of the CA bundle's certificates must
    have signed (Octavia: "The CRL specified is not valid for client certificate
    authority reference supplied")."""
    kind, obj_id = _parsed(ref)
    if kind != "secrets":
        raise _retrieval_error(ref, "a CRL is a secret, not a container")
    data = _secret_bytes(session, vault, project_id, ref, obj_id)
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        try:
            crl = x509.load_der_x509_crl(data)
        except ValueError:
            raise _retrieval_error(ref, "the secret is not a PEM or DER X.509 "
                                        "CRL") from None
    cas = x509.load_pem_x509_certificates(ca_pem.encode("ascii"))
    if not any(_signed_by(crl, ca) for ca in cas):
        raise TlsRefError(f"The CRL specified is not valid for client certificate "
                          f"authority reference supplied: ['{ref}']")
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.issuer == ca.subject and crl.is_signature_valid(
            ca.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def check_refs(session: Session, vault: km.Vault, project_id: str, obj: object) -> None:
    """Every ref of a listener or pool resolves (the API's 400 otherwise)."""
    if isinstance(obj, m.Listener):
        for ref in [obj.default_tls_container_ref, *(obj.sni_container_refs or [])]:
            if ref:
                load_certificate(session, vault, project_id, ref)
        if obj.client_ca_tls_container_ref:
            ca = load_ca(session, vault, project_id, obj.client_ca_tls_container_ref)
            if obj.client_crl_container_ref:
                load_crl(session, vault, project_id, obj.client_crl_container_ref, ca)
    elif isinstance(obj, m.LbPool):
        if obj.tls_container_ref:
            load_certificate(session, vault, project_id, obj.tls_container_ref)
        if obj.ca_tls_container_ref:
            ca = load_ca(session, vault, project_id, obj.ca_tls_container_ref)
            if obj.crl_container_ref:
                load_crl(session, vault, project_id, obj.crl_container_ref, ca)


# --- Octavia's rules between the TLS fields ----------------------------------------------

def pool_tls_rules(crl: str | None, ca: str | None) -> None:
    """Octavia's rule between a pool's refs (also checked on the stored pool after an
    update, lbaas/server/plugin/octavia.py)."""
    if crl and not ca:
        raise ValueError("A CA reference is required to specify a certificate "
                         "revocation list.")


def listener_tls_rules(protocol: str, li: dict[str, Any]) -> None:
    """Octavia's rules between a listener's protocol and its TLS fields, on a create's
    body or on the stored listener with an update applied (ValueError says which)."""
    tls = protocol == TERMINATED_HTTPS
    headers = li.get("insert_headers") or {}
    if headers and protocol not in ("HTTP", TERMINATED_HTTPS):
        raise ValueError(f"insert_headers are only valid for HTTP and TERMINATED_HTTPS "
                         f"listeners, not {protocol}")
    ssl_headers = sorted(h for h in headers if h in SSL_HEADERS)
    if ssl_headers and not tls:
        raise ValueError(f"insert_headers {', '.join(ssl_headers)} are only valid for "
                         f"TERMINATED_HTTPS listeners")
    if (li.get("hsts_include_subdomains") or li.get("hsts_preload")) and \
            li.get("hsts_max_age") is None:
        raise ValueError("HSTS configuration options hsts_include_subdomains and "
                         "hsts_preload only make sense if hsts_max_age is set as well.")
    if li.get("hsts_max_age") is not None and not tls:
        raise ValueError("The HSTS feature can only be used for listeners using the "
                         "TERMINATED_HTTPS protocol.")
    refs = li.get("default_tls_container_ref") or li.get("sni_container_refs")
    if not tls:
        if refs or li.get("client_ca_tls_container_ref"):
            raise ValueError("Certificate container references are only allowed on "
                             "TERMINATED_HTTPS protocol listeners.")
        for name in ("tls_versions", "tls_ciphers", "alpn_protocols",
                     "client_crl_container_ref"):
            if li.get(name) is not None:
                raise ValueError(f"{name} is only valid on TERMINATED_HTTPS listeners")
        if (li.get("client_authentication") or "NONE") != "NONE":
            raise ValueError(f"Client authentication setting "
                             f"{li['client_authentication']} requires a client CA "
                             f"container reference.")
        return
    if not refs:
        raise ValueError("An SNI or default certificate container reference must be "
                         "provided for TERMINATED_HTTPS protocol listeners.")
    if (li.get("client_authentication") or "NONE") != "NONE" and \
            not li.get("client_ca_tls_container_ref"):
        raise ValueError(f"Client authentication setting {li['client_authentication']} "
                         f"requires a client CA container reference.")
    if li.get("client_crl_container_ref") and not li.get("client_ca_tls_container_ref"):
        raise ValueError("A client authentication CA reference is required to specify "
                         "a client authentication revocation list.")
