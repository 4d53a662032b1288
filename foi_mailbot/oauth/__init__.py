"""OAuth2 access tokens for IMAP and SMTP: where they come from, and how long one is kept.

`tokens_for` chooses, for one side (the mailbox or SMTP), the token source its settings name:
that side's own `token_command` / `token_file`, else the shared `[oauth]` provider. The built-in
providers ("microsoft", "google") are wrapped in a `CachedTokens`, which keeps a token until five
minutes before it expires and reports failures, so both sides share one token and one outage.
"""

from __future__ import annotations

from foi_mailbot.oauth.cache import CachedTokens, Token, TokenError
from foi_mailbot.oauth.providers import shared_tokens, tokens_for

__all__ = ["CachedTokens", "Token", "TokenError", "shared_tokens", "tokens_for"]
