"""`python -m foi_mailbot` runs the command line."""

from foi_mailbot.cli import app

app()
