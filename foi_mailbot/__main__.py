"""`python -m foi_mailbot` runs the command line."""

from foi_mailbot.cli import app

if __name__ == "__main__":  # not when merely imported (e.g. by multiprocessing)
    app()
