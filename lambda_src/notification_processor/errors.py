"""Why a record cannot be stored."""

from __future__ import annotations


class InvalidInput(ValueError):
    """The record can never be stored; the message says why (and holds no body content)."""
