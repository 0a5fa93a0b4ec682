"""Consent-backed phone verification for Django."""

__version__ = "0.1.0"
