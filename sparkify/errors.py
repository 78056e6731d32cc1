"""Errors a user can act on: the command line prints them without a traceback."""

from __future__ import annotations


class CliError(Exception):
    """An error the user can act on; printed without a traceback."""
