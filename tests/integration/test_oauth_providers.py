"""The built-in token providers against a real (loopback) identity provider, and the logins
they feed: Dovecot's oauth2 passdb and an SMTP server taking AUTH XOAUTH2, both checking each
token with the identity provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from foi_mailbot.clock import FixedClock
from foi_mailbot.oauth import CachedTokens, TokenError, shared_tokens, tokens_for
from foi_mailbot.oauth.google import GoogleTokens
from foi_mailbot.oauth.microsoft import MicrosoftTokens
from foi_mailbot.outbound.transport import SmtpTransport
from foi_mailbot.settings import OAuthSettings, Settings, SmtpSettings
from foi_mailbot.sources.imap_session import open_client
from tests.integration.harness import fixture_mail
from tests.servers.dovecot import Dovecot
from tests.servers.oauth_endpoint import MAILBOX, IdentityProvider
from tests.servers.smtp_sink import SmtpSink

pytestmark = [pytest.mark.dovecot, pytest.mark.filterwarnings("ignore:Requiring AUTH")]

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
APP = "11111111-2222-3333-4444-555555555555"
SECRET = "Qx8~not-the-secret-id"


def _microsoft(idp: IdentityProvider, tmp_path: Path, **extra: Any) -> OAuthSettings:
    secret_file = tmp_path / "client_secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    idp.register_app(APP, SECRET)
    values: dict[str, Any] = {"provider": "microsoft", "tenant_id": idp.tenant, "client_id": APP,
                              "client_secret_file": secret_file, "authority": idp.authority}
    values.update(extra)
    return OAuthSettings(**values)


@pytest.fixture
def oauth_dovecot(dovecot_factory: Callable[..., Dovecot],
                  identity_provider: IdentityProvider) -> Dovecot:
    """Dovecot checking XOAUTH2 tokens with the identity provider."""
    return dovecot_factory(oauth2_introspection_url=identity_provider.introspection_url)


def test_microsoft_secret_token_opens_the_mailbox_in_dovecot(
    identity_provider: IdentityProvider, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    """msal's client-credentials grant gives a token Dovecot accepts for the mailbox."""
    tokens = CachedTokens(MicrosoftTokens(_microsoft(identity_provider, tmp_path),
                                          FixedClock(NOW)), FixedClock(NOW), name="microsoft")
    box = oauth_dovecot.mailbox_settings(auth="xoauth2", password=None)
    client = open_client(box, tokens)
    try:
        assert client.folder_exists("INBOX")
    finally:
        client.logout()
    assert 1 == identity_provider.grants


def test_microsoft_certificate_credential_gets_a_token(
    identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """A certificate (PEM certificate and key files) signs msal's client assertion."""
    cert, key = identity_provider.register_certificate(APP)
    settings = OAuthSettings(provider="microsoft", tenant_id=identity_provider.tenant,
                             client_id=APP, certificate_file=cert, certificate_key_file=key,
                             authority=identity_provider.authority)
    token = MicrosoftTokens(settings, FixedClock(NOW))()
    assert identity_provider.introspect(token.value)["active"]
    assert NOW + timedelta(hours=1) == token.expires_at


def test_a_revoked_secret_fails_with_entras_own_words(
    identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """The error names AADSTS7000215 as Entra says it, without the trace lines."""
    settings = _microsoft(identity_provider, tmp_path)
    identity_provider.revoke_secret(APP)
    with pytest.raises(TokenError, match=r"invalid_client: AADSTS7000215: Invalid client secret"):
        MicrosoftTokens(settings, FixedClock(NOW))()


def test_a_rotated_secret_file_is_read_at_the_next_fetch(
    identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """Writing the new secret into the file is enough: no restart."""
    settings = _microsoft(identity_provider, tmp_path)
    identity_provider.set_secret(APP, "the-new-secret")
    fetch = MicrosoftTokens(settings, FixedClock(NOW))
    with pytest.raises(TokenError):
        fetch()
    assert settings.client_secret_file is not None
    settings.client_secret_file.write_text("the-new-secret", encoding="utf-8")
    assert identity_provider.introspect(fetch().value)["active"]


def test_an_unknown_tenant_is_named(identity_provider: IdentityProvider, tmp_path: Path) -> None:
    """A wrong tenant fails at discovery, and the error says where."""
    settings = _microsoft(identity_provider, tmp_path,
                          authority=identity_provider.authority.replace("contoso", "fabrikam"))
    with pytest.raises(TokenError, match="Microsoft sign-in at https://localhost"):
        MicrosoftTokens(settings, FixedClock(NOW))()


def test_a_token_is_kept_until_five_minutes_before_it_expires(
    identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """Both sides share one token; it is fetched again only when it is nearly due."""
    clock = FixedClock(NOW)
    tokens = CachedTokens(MicrosoftTokens(_microsoft(identity_provider, tmp_path), clock), clock,
                          name="microsoft")
    first = tokens.token()
    clock.advance(timedelta(minutes=54))
    assert first == tokens.token()
    assert 1 == identity_provider.grants
    clock.advance(timedelta(minutes=1, seconds=1))
    assert first != tokens.token()
    assert 2 == identity_provider.grants


def test_a_refused_token_is_fetched_again_once_for_imap(
    identity_provider: IdentityProvider, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    """A token the server no longer takes (revoked early) costs one more fetch, not an outage."""
    clock = FixedClock(NOW)
    tokens = CachedTokens(MicrosoftTokens(_microsoft(identity_provider, tmp_path), clock), clock,
                          name="microsoft")
    box = oauth_dovecot.mailbox_settings(auth="xoauth2", password=None)
    open_client(box, tokens).logout()
    identity_provider.expire_all()
    open_client(box, tokens).logout()
    assert 2 == identity_provider.grants


def test_smtp_sends_with_xoauth2_and_fetches_again_after_a_refusal(
    identity_provider: IdentityProvider, tmp_path: Path
) -> None:
    """AUTH XOAUTH2 on submission; an expired token is replaced once and the message goes."""
    clock = FixedClock(NOW)
    tokens = CachedTokens(MicrosoftTokens(_microsoft(identity_provider, tmp_path), clock), clock,
                          name="microsoft")
    raw = fixture_mail("new_request_plain_foia.eml", To="someone@example.org").replace(b"\n", b"\r\n")
    with SmtpSink(oauth_introspection_url=identity_provider.introspection_url) as sink:
        smtp = SmtpSettings(host=sink.host, port=sink.port, security="none", auth="xoauth2",
                            username=MAILBOX, timeout_seconds=5.0)
        transport = SmtpTransport(smtp, tokens)
        transport.send(raw)
        identity_provider.expire_all()
        transport.send(raw)
        assert 2 == len(sink.wait_for(2))
        assert [(MAILBOX, True), (MAILBOX, False), (MAILBOX, True)] == sink.handler.logins  # type: ignore[attr-defined]


def test_google_service_account_token_is_delegated_to_the_mailbox(
    identity_provider: IdentityProvider, oauth_dovecot: Dovecot
) -> None:
    """google-auth's JWT-bearer grant, subject = the mailbox, opens it in Dovecot."""
    key = identity_provider.register_service_account(
        "foi-mailbot@foi-test.iam.gserviceaccount.com", delegated={MAILBOX})
    settings = OAuthSettings(provider="google", service_account_file=key)
    clock = FixedClock(NOW)
    tokens = CachedTokens(GoogleTokens(settings, MAILBOX, clock), clock, name="google")
    box = oauth_dovecot.mailbox_settings(auth="xoauth2", password=None)
    open_client(box, tokens).logout()
    assert 1 == identity_provider.grants


def test_google_without_delegation_fails_with_googles_words(
    identity_provider: IdentityProvider,
) -> None:
    """A mailbox the service account is not delegated gets unauthorized_client."""
    key = identity_provider.register_service_account(
        "foi-mailbot@foi-test.iam.gserviceaccount.com", delegated={"someone@example.gov.uk"})
    fetch = GoogleTokens(OAuthSettings(provider="google", service_account_file=key), MAILBOX,
                         FixedClock(NOW))
    with pytest.raises(TokenError, match="unauthorized_client: Client is unauthorized"):
        fetch()


def test_a_side_with_its_own_token_file_overrides_the_shared_provider(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """[smtp] token_file wins over [oauth] for SMTP; the mailbox keeps the shared provider."""
    token_file = tmp_path / "smtp-token"
    token_file.write_text("from-the-file", encoding="utf-8")
    settings = make_settings(
        oauth={"provider": "command", "token_command": "echo shared-token"},
        smtp={"host": "127.0.0.1", "auth": "xoauth2", "token_file": str(token_file)},
    )
    shared = shared_tokens(settings, FixedClock(NOW))
    assert "from-the-file" == tokens_for(settings.smtp, shared, "smtp").token()
    assert "shared-token" == tokens_for(settings.mailbox, shared, "mailbox").token()
    assert shared is not None
    assert json.dumps(None) == json.dumps(shared.last_error)


def test_client_secret_may_also_be_given_inline_or_by_variable() -> None:
    """client_secret (e.g. FOI_MAILBOT_OAUTH__CLIENT_SECRET) works like the file."""
    settings = OAuthSettings(provider="microsoft", tenant_id="t", client_id="c",
                             client_secret=SecretStr("x"))
    assert "x" == MicrosoftTokens(settings, FixedClock(NOW))._credential()
