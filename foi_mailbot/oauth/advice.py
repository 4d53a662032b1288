"""What to do about the failures Microsoft 365 and Google Workspace are known to give.

Each rule matches the server's or identity provider's own words and says which missed set-up
step they point to, in the terms of docs/microsoft-365.md and docs/google-workspace.md. Used by
`check-config --connect`; the words themselves are always shown too.
"""

from __future__ import annotations

import re
from typing import Final

_SP = ("the Object ID of the app under Enterprise applications (not App registrations)")

RULES: Final[tuple[tuple[str, str], ...]] = (
    (r"AADSTS7000215", "the client secret is wrong: put the secret's Value (not its Secret ID, "
     "shown beside it under Certificates & secrets) in oauth.client_secret_file"),
    (r"AADSTS7000222", "the client secret has expired: add a new one under Certificates & "
     "secrets, write it to oauth.client_secret_file and set oauth.secret_expires"),
    (r"AADSTS700016", "no app with this oauth.client_id in this tenant: copy the Application "
     "(client) ID and the Directory (tenant) ID from the app registration's Overview"),
    (r"AADSTS90002|Unable to get authority configuration|Tenant .* not found",
     "the tenant was not found: check oauth.tenant_id (the Directory (tenant) ID)"),
    (r"AADSTS700027|AADSTS700023", "the certificate is not the one uploaded to the app "
     "registration (Certificates & secrets > Certificates), or its key does not match"),
    (r"AADSTS1002012|AADSTS70011|invalid_scope", "the scope must be "
     "https://outlook.office365.com/.default: remove oauth.scope"),
    (r"AADSTS65001|AADSTS650057|AADSTS500011", "the app has no consented permission for "
     "Exchange: add the Office 365 Exchange Online application permissions IMAP.AccessAsApp "
     "and SMTP.SendAsApp and click 'Grant admin consent'"),
    (r"5\.7\.139.*disabled for the Tenant", "SMTP AUTH is off for the tenant: "
     "Set-TransportConfig -SmtpClientAuthenticationDisabled $false, or for this mailbox only: "
     "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false"),
    (r"5\.7\.139", "SMTP AUTH is refused for this mailbox: Set-CASMailbox -Identity <mailbox> "
     "-SmtpClientAuthenticationDisabled $false (and check no Conditional Access policy or "
     "Security defaults blocks it)"),
    (r"5\.7\.60|SendAsDenied|permissions to send as", "the app may not send as this address: "
     "Add-RecipientPermission -Identity <mailbox> -Trustee <service principal> -AccessRights "
     "SendAs"),
    (r"5\.7\.3 Authentication unsuccessful", "Exchange refused the token for SMTP: check the "
     "SMTP.SendAsApp permission has admin consent, that New-ServicePrincipal was run with "
     f"{_SP}, and Add-MailboxPermission for the mailbox; changes take up to 30 minutes"),
    (r"5\.7\.8.*(Username and Password not accepted|BadCredentials)", "Google refused the "
     "token for SMTP: smtp.username must be the delegated mailbox (oauth.subject), and the "
     "delegation must allow https://mail.google.com/"),
    (r"unauthorized_client", "domain-wide delegation is missing: in the Google Admin console, "
     "Security > Access and data control > API controls > Manage Domain Wide Delegation, add "
     "the service account's Client ID with the scope https://mail.google.com/ (it can take "
     "some minutes to apply)"),
    (r"invalid_grant.*(Invalid email|User ID)", "Google does not know the subject: "
     "oauth.subject (or mailbox.username) must be a user mailbox in the Workspace domain, "
     "not a group or an alias"),
    (r"IMAP access is disabled|Please log in via your web browser", "IMAP is switched off: "
     "Google Admin console > Apps > Google Workspace > Gmail > End User Access > IMAP access"),
)

IMAP_REFUSED_MICROSOFT: Final = (
    "Exchange refused the token for this mailbox: check (1) the IMAP.AccessAsApp application "
    "permission has admin consent; (2) New-ServicePrincipal -AppId <client id> -ServiceId "
    f"<object id> was run with {_SP}; (3) Add-MailboxPermission -Identity <mailbox> -User "
    "<service principal id> -AccessRights FullAccess; (4) IMAP is on for the mailbox "
    "(Set-CASMailbox -Identity <mailbox> -ImapEnabled $true). Changes take up to 30 minutes."
)
IMAP_REFUSED_GOOGLE: Final = (
    "Google refused the token for this mailbox: mailbox.username must be the delegated "
    "mailbox, and IMAP must be allowed (Admin console > Apps > Google Workspace > Gmail > End "
    "User Access)"
)


def advice(text: str, provider: str | None = None, *, imap_login: bool = False) -> str | None:
    """What to do about a failure whose words are `text`; None if nothing is known."""
    for pattern, what in RULES:
        if re.search(pattern, text, re.IGNORECASE):
            return what
    if imap_login and provider == "microsoft":
        return IMAP_REFUSED_MICROSOFT
    if imap_login and provider == "google":
        return IMAP_REFUSED_GOOGLE
    return None
