"""The client secret's (or certificate's) end date, said ahead of time (`oauth.secret_expires`).

An Entra ID client secret lives at most two years; when it lapses, mail stops. The date is
the operator's note of when it ends: `status` and the digest warn from 30 days before, and one
alert mail goes to the operations address.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from foi_mailbot.settings import OAuthSettings

WARN_DAYS: Final = 30


def secret_expiry_warning(oauth: OAuthSettings, today: date) -> str | None:
    """A sentence when the secret ends within `WARN_DAYS` days (or has ended); else None."""
    ends = oauth.secret_expires
    if ends is None or oauth.provider is None:
        return None
    left = (ends - today).days
    if left > WARN_DAYS:
        return None
    what = "certificate" if oauth.certificate_file is not None else "client secret"
    if left < 0:
        return (f"the OAuth2 {what} expired on {ends.isoformat()}: make a new one, put it in "
                "place and set oauth.secret_expires to its end date")
    return (f"the OAuth2 {what} expires on {ends.isoformat()} (in {left} days): make a new "
            "one, put it in place and set oauth.secret_expires to its end date")
