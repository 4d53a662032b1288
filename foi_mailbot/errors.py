"""The exception tree: each boundary translates library errors into one of these."""


class FoiMailbotError(Exception):
    """Base of every error foi-mailbot raises on purpose."""


class ConfigError(FoiMailbotError):
    """The configuration is missing, malformed or names something that does not exist."""


class UsageError(FoiMailbotError):
    """A command was given input it cannot act on; the message says which."""


class TransientError(FoiMailbotError):
    """A server or resource failed in a way that may pass; the step is retried later."""


class PermanentError(FoiMailbotError):
    """A step cannot succeed by retrying; a person must look at it."""


class IllegalTransition(FoiMailbotError):
    """A case event does not fit the case's current state."""
