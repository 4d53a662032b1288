"""Known Microsoft 365 and Google failure texts, each pointing to the set-up step missed."""

from __future__ import annotations

import pytest

from foi_mailbot.oauth.advice import advice


@pytest.mark.parametrize(("text", "step"), [
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
     "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"),
    ("554 5.2.252 SendAsDenied; foi@example.gov.uk not allowed to send as it@example.gov.uk",
     "Add-RecipientPermission"),
    ("Microsoft sign-in refused: invalid_client: AADSTS7000222: The provided client secret "
     "keys for app '1111' are expired.", "has expired"),
    ("Microsoft sign-in refused: unauthorized_client: AADSTS700016: Application with "
     "identifier '1111' was not found in the directory 'Contoso'.", "Application (client) ID"),
    ("Google sign-in refused: unauthorized_client: Client is unauthorized to retrieve access "
     "tokens using this method", "Manage Domain Wide Delegation"),
    ("Google sign-in refused: invalid_grant: Invalid email or User ID", "not a group"),
])
def test_known_failures_name_the_step(text: str, step: str) -> None:
    """The advice names the command or console page that mends it."""
    found = advice(text)
    assert found is not None
    assert step in found


def test_a_refused_imap_login_is_explained_per_provider() -> None:
    """Exchange says only 'AUTHENTICATE failed.': the advice lists the Exchange-side steps."""
    microsoft = advice("AUTHENTICATE failed.", "microsoft", imap_login=True)
    assert microsoft is not None
    assert "New-ServicePrincipal" in microsoft
    assert "Add-MailboxPermission" in microsoft
    assert advice("AUTHENTICATE failed.", None, imap_login=True) is None
