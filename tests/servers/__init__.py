"""Real servers the tests talk to: a private Dovecot IMAP instance (and an SMTP sink)."""
