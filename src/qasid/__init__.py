"""Qasid: a self-hosted SMS and OTP gateway."""

__version__ = "0.1.0.dev0"
