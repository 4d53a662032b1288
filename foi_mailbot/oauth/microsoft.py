"""Tokens from Microsoft Entra ID by the client-credentials flow (an app, no user), with msal.

The app registration needs the Office 365 Exchange Online application permissions
`IMAP.AccessAsApp` and `SMTP.SendAsApp`, admin consent, and a service principal in Exchange
with rights on the mailbox (see docs/microsoft-365.md). The secret or certificate is read from
its file at every fetch, so rotating it needs no restart.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from foi_mailbot.clock import Clock
from foi_mailbot.errors import ConfigError
from foi_mailbot.oauth.cache import Token, TokenError
from foi_mailbot.settings import OAuthSettings

DEFAULT_AUTHORITY_HOST: Final = "https://login.microsoftonline.com"
DEFAULT_SCOPE: Final = "https://outlook.office365.com/.default"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"the {what} file {path} could not be read: {exc.strerror}"
        raise TokenError(msg) from exc


def _first_line(text: str) -> str:
    # Entra appends "Trace ID: ... Correlation ID: ... Timestamp: ..." lines: noise in an alert.
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.split(" Trace ID:")[0]


class MicrosoftTokens:
    """Fetches app-only tokens for Exchange Online (IMAP and SMTP share one scope)."""

    def __init__(self, settings: OAuthSettings, clock: Clock, *, timeout: float = 30.0) -> None:
        if not settings.client_id or not (settings.tenant_id or settings.authority):
            msg = 'oauth.provider = "microsoft" needs oauth.tenant_id and oauth.client_id'
            raise ConfigError(msg)
        has_secret = settings.client_secret is not None or settings.client_secret_file
        if not has_secret and settings.certificate_file is None:
            msg = ('oauth.provider = "microsoft" needs oauth.client_secret_file or '
                   "oauth.certificate_file")
            raise ConfigError(msg)
        self.settings = settings
        self.clock = clock
        self.timeout = timeout
        self.authority = (settings.authority or
                          f"{DEFAULT_AUTHORITY_HOST}/{settings.tenant_id}").rstrip("/")
        self.scope = settings.scope or DEFAULT_SCOPE

    def _credential(self) -> str | dict[str, str]:
        s = self.settings
        if s.certificate_file is not None:
            return _certificate_credential(s.certificate_file, s.certificate_key_file)
        if s.client_secret_file is not None:
            return _read(s.client_secret_file, "client secret")
        return s.client_secret.get_secret_value() if s.client_secret else ""

    def __call__(self) -> Token:
        """Ask Entra ID for a token; `TokenError` with Entra's own words if it refuses."""
        import msal

        credential = self._credential()
        try:
            # A new client each time: tokens are fetched about once an hour, and msal's own
            # cache would hand back a token a server has just refused.
            client = msal.ConfidentialClientApplication(
                self.settings.client_id, client_credential=credential,
                authority=self.authority, instance_discovery=False, timeout=self.timeout,
                token_cache=msal.TokenCache(),
            )
            result: dict[str, Any] = client.acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # discovery, network or credential errors: msal's own words
            msg = f"Microsoft sign-in at {self.authority} failed: {_first_line(str(exc))}"
            raise TokenError(msg) from exc
        if "access_token" not in result:
            error = result.get("error", "error")
            text = _first_line(str(result.get("error_description", "")))
            msg = f"Microsoft sign-in refused: {error}: {text}"
            raise TokenError(msg)
        expires_in = int(result.get("expires_in", 3600))
        return Token(str(result["access_token"]),
                     self.clock.now() + timedelta(seconds=expires_in))


def _certificate_credential(cert_path: Path, key_path: Path | None) -> dict[str, str]:
    """msal's certificate credential: the private key, the certificate and its thumbprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = _read(cert_path, "certificate")
    key = _read(key_path, "certificate key") if key_path is not None else pem
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        msg = f"the certificate file {cert_path} holds no PEM certificate"
        raise TokenError(msg) from exc
    der = cert.public_bytes(Encoding.DER)
    return {
        "private_key": key,
        "thumbprint": hashlib.sha1(der).hexdigest(),  # noqa: S324 - the x5t header is SHA-1
        "public_certificate": cert.public_bytes(Encoding.PEM).decode(),
    }
