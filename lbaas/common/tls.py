"""TLS for the HTTP between lbaas's processes: what a client verifies, what a server
loads, and one line for the operator when either goes wrong.

The agent (``ca_file``, ``insecure``) and the ``lbaas`` CLI (``--os-cacert``,
``--insecure``) verify the server the same way; lbaas-server and the all-in-one load
``ssl_cert_file``/``ssl_key_file`` the same way. docs/deploy.md shows a setup with them.
"""

from __future__ import annotations

import ssl

# What every failed verification says, whatever the cause (unknown CA, wrong host name,
# expired): the word the operator greps for.
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


class TlsError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names the file."""


def client_verify(ca_file: str | None, insecure: bool) -> ssl.SSLContext | bool:
    """What httpx's ``verify=`` takes: False with ``insecure``; else a context that
    trusts ``ca_file`` (PEM) or, without one, the system's CA store. Raises TlsError
    for a CA file that cannot be read."""
    if insecure:
        return False
    try:
        if ca_file:
            return ssl.create_default_context(cafile=ca_file)
        return ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"CA file {ca_file}: {_reason(exc)}") from None


def check_server_files(cert_file: str, key_file: str | None) -> None:
    """Load the certificate and key once, as uvicorn will, so that a missing file, a
    key that does not match or a passphrase-protected key is a configuration error at
    start and not a traceback from inside uvicorn. Raises TlsError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file or None, password=_no_password)
    except (OSError, ssl.SSLError, _PasswordAsked) as exc:
        files = cert_file + (f" / ssl_key_file {key_file}" if key_file else "")
        raise TlsError(f"ssl_cert_file {files}: {_reason(exc)}") from None


def is_verify_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failed certificate verification."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or VERIFY_FAILED in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _PasswordAsked(Exception):
    def __str__(self) -> str:
        return "the private key is encrypted; give it without a passphrase"


def _no_password() -> bytes:
    # Called by OpenSSL only for an encrypted key; without this it would prompt on the
    # terminal (or hang under systemd).
    raise _PasswordAsked()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return exc.strerror
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} (not a PEM certificate and key that belong together?)"
    return str(exc) or exc.__class__.__name__
