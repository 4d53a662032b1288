"""foi-mailbot: runs a public authority's Freedom of Information mailbox unattended."""

__version__ = "0.1.0"
