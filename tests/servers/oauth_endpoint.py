"""A real OAuth2 identity provider for tests, on loopback: tokens to grant, check and revoke.

It speaks just enough of Microsoft Entra ID and of Google's token service for msal and
google-auth to talk to it unchanged:

- `GET /<tenant>/v2.0/.well-known/openid-configuration`: tenant discovery (msal);
- `POST /<tenant>/oauth2/v2.0/token`: the client-credentials grant, with a client secret or a
  certificate-signed client assertion; errors in Entra's words (`AADSTS...`);
- `POST /google/token`: the JWT-bearer grant of a service account, the subject checked against
  the mailboxes delegated to it;
- `POST /introspect`: RFC 7662 introspection, which Dovecot's `oauth2` passdb and the SMTP sink
  call to check a token (`{"active": true, "username": ...}`).

It listens twice with the same state: over HTTPS with a certificate made for the run (msal
insists on https; `ca_file` is what clients trust) and over plain HTTP for the servers' checks.
Tests expire every token (`expire_all`), revoke a client secret (`revoke_secret`) and count the
grants made (`grants`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
TENANT = "contoso-tenant"
MAILBOX = "foi@example.gov.uk"
INVALID_SECRET = (
    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
    "is the client secret value, not the client secret ID, for a secret added to app '{client}'."
)
UNKNOWN_APP = (
    "AADSTS700016: Application with identifier '{client}' was not found in the directory "
    "'{tenant}'."
)
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key: rsa.RSAPrivateKey, *, issuer: tuple[x509.Certificate,
                 rsa.RSAPrivateKey] | None = None, ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca and issuer is not None:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST)),
        ]), critical=False)
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256())


@dataclass
class Issued:
    """A token handed out: whose, for which mailbox, until when (time.time())."""

    client: str
    username: str
    expires: float


@dataclass
class IdentityState:
    """What the provider knows: apps, service accounts, tokens; shared by both listeners."""

    secrets: dict[str, str] = field(default_factory=dict)
    certificates: dict[str, Any] = field(default_factory=dict)  # client id -> public key
    service_accounts: dict[str, tuple[Any, set[str]]] = field(default_factory=dict)
    mailbox_for: dict[str, str] = field(default_factory=dict)  # client id -> mailbox
    tokens: dict[str, Issued] = field(default_factory=dict)
    lifetime: int = 3600
    grants: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class IdentityProvider:
    """The provider itself: `start()`, `stop()`, or use it with `with`."""

    def __init__(self, *, tenant: str = TENANT) -> None:
        self.tenant = tenant
        self.state = IdentityState()
        self.root = Path(tempfile.mkdtemp(prefix="foi-oauth-"))
        ca_key = _key()
        ca_cert = _certificate("foi-mailbot test CA", ca_key, ca=True)
        server_key = _key()
        server_cert = _certificate("localhost", server_key, issuer=(ca_cert, ca_key))
        self.ca_file = self.root / "ca.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        chain = self.root / "server.pem"
        chain.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + _pem_key(server_key))
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(chain)
        self._servers: list[ThreadingHTTPServer] = []
        self.https_port = 0
        self.http_port = 0

    # -- what clients are told -------------------------------------------------------------

    @property
    def authority(self) -> str:
        """The Entra-style authority msal is given (`oauth.authority`)."""
        return f"https://localhost:{self.https_port}/{self.tenant}"

    @property
    def google_token_uri(self) -> str:
        """The token URI written into a service account key file."""
        return f"https://localhost:{self.https_port}/google/token"

    @property
    def introspection_url(self) -> str:
        """Where servers check a token (plain HTTP on loopback)."""
        return f"http://{HOST}:{self.http_port}/introspect"

    # -- registration ----------------------------------------------------------------------

    def register_app(self, client_id: str, secret: str | None = None, *,
                     mailbox: str = MAILBOX) -> None:
        """An app registration with a client secret, allowed the mailbox."""
        with self.state.lock:
            if secret is not None:
                self.state.secrets[client_id] = secret
            self.state.mailbox_for[client_id] = mailbox

    def register_certificate(self, client_id: str, *, mailbox: str = MAILBOX) -> tuple[Path, Path]:
        """An app registration with a certificate; returns (certificate file, key file)."""
        key = _key()
        cert = _certificate(client_id, key)
        cert_file, key_file = self.root / f"{client_id}.crt", self.root / f"{client_id}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        with self.state.lock:
            self.state.certificates[client_id] = key.public_key()
            self.state.mailbox_for[client_id] = mailbox
        return cert_file, key_file

    def register_service_account(self, email: str, *, delegated: set[str]) -> Path:
        """A Google service account delegated the mailboxes; returns its JSON key file."""
        key = _key()
        with self.state.lock:
            self.state.service_accounts[email] = (key.public_key(), set(delegated))
        path = self.root / f"{email.split('@', maxsplit=1)[0]}.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "foi-test",
            "private_key_id": secrets.token_hex(8), "private_key": _pem_key(key).decode(),
            "client_email": email, "client_id": "1234567890",
            "token_uri": self.google_token_uri,
        }), encoding="utf-8")
        return path

    def revoke_secret(self, client_id: str) -> None:
        """The secret no longer works (deleted or expired in the portal)."""
        with self.state.lock:
            self.state.secrets[client_id] = "revoked-" + secrets.token_hex(8)

    def set_secret(self, client_id: str, secret: str) -> None:
        """A new secret for the app."""
        with self.state.lock:
            self.state.secrets[client_id] = secret

    def expire_all(self) -> None:
        """Every token handed out stops working now."""
        with self.state.lock:
            self.state.tokens.clear()

    @property
    def grants(self) -> int:
        """How many tokens have been handed out."""
        with self.state.lock:
            return self.state.grants

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: active with the mailbox's name, or inactive."""
        with self.state.lock:
            issued = self.state.tokens.get(token)
        if issued is None or issued.expires < time.time():
            return {"active": False}
        return {"active": True, "username": issued.username, "client_id": issued.client}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> IdentityProvider:
        """Listen on two free loopback ports."""
        for tls in (True, False):
            server = ThreadingHTTPServer((HOST, 0), _Handler)
            server.daemon_threads = True
            server.provider = self  # type: ignore[attr-defined]
            if tls:
                server.socket = self._tls.wrap_socket(server.socket, server_side=True)
                self.https_port = server.server_address[1]
            else:
                self.http_port = server.server_address[1]
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        """Stop both listeners."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- grants ----------------------------------------------------------------------------

    def _issue(self, client: str, username: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        with self.state.lock:
            lifetime = self.state.lifetime
            self.state.tokens[token] = Issued(client, username, time.time() + lifetime)
            self.state.grants += 1
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": token}

    def client_credentials(self, form: dict[str, str], endpoint: str) -> tuple[int, dict[str, Any]]:
        """Entra's client-credentials grant."""
        client = form.get("client_id", "")
        with self.state.lock:
            secret = self.state.secrets.get(client)
            public_key = self.state.certificates.get(client)
            mailbox = self.state.mailbox_for.get(client)
        if mailbox is None:
            return 400, _entra_error("unauthorized_client",
                                     UNKNOWN_APP.format(client=client, tenant=self.tenant))
        if "client_assertion" in form and public_key is not None:
            try:
                jwt.decode(form["client_assertion"], public_key, algorithms=["RS256", "PS256"],
                           audience=endpoint)
            except jwt.PyJWTError:
                return 401, _entra_error("invalid_client",
                                         "AADSTS700027: Client assertion failed signature validation.")
        elif secret is None or not secrets.compare_digest(form.get("client_secret", ""), secret):
            return 401, _entra_error("invalid_client", INVALID_SECRET.format(client=client))
        return 200, self._issue(client, mailbox)

    def jwt_bearer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Google's service-account grant with domain-wide delegation."""
        try:
            unverified = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            with self.state.lock:
                public_key, delegated = self.state.service_accounts[unverified["iss"]]
            # google-auth addresses its assertion to Google's token URL wherever it posts it.
            claims = jwt.decode(form["assertion"], public_key, algorithms=["RS256"],
                                audience=[self.google_token_uri, GOOGLE_AUDIENCE])
        except (jwt.PyJWTError, KeyError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        subject = claims.get("sub")
        if subject not in delegated or "https://mail.google.com/" not in claims.get("scope", ""):
            return 401, {"error": "unauthorized_client", "error_description": UNAUTHORIZED_CLIENT}
        return 200, self._issue(claims["iss"], subject)


def _entra_error(error: str, description: str) -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    # Entra puts its trace lines after the message, separated by CRLF.
    trace = secrets.token_hex(8)
    return {"error": error, "error_description": f"{description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {trace}\r\nTimestamp: {stamp}", "error_codes": [int(description[6:].split(":", maxsplit=1)[0])]
            if description.startswith("AADSTS") else []}


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        parsed = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def do_GET(self) -> None:
        provider: IdentityProvider = self.server.provider
        base = f"https://localhost:{provider.https_port}/{provider.tenant}"
        if self.path == f"/{provider.tenant}/v2.0/.well-known/openid-configuration":
            self._send(200, {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            })
        elif self.path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = self.path.split("/")[1]
            self._send(400, _entra_error("invalid_tenant",
                       f"AADSTS90002: Tenant '{tenant}' not found."))
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        provider: IdentityProvider = self.server.provider
        form = self._form()
        if self.path == f"/{provider.tenant}/oauth2/v2.0/token":
            endpoint = f"https://localhost:{provider.https_port}{self.path}"
            self._send(*provider.client_credentials(form, endpoint))
        elif self.path == "/google/token":
            self._send(*provider.jwt_bearer(form))
        elif self.path == "/introspect":
            self._send(200, provider.introspect(form.get("token", "")))
        else:
            self._send(404, {"error": "not_found"})


@pytest.fixture
def identity_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityProvider]:
    """A running identity provider whose certificate the HTTP clients trust for this test."""
    with IdentityProvider() as provider:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(provider.ca_file))
        yield provider
