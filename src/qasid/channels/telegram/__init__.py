"""Telegram Gateway API: verification codes sent by Telegram's Verification Codes account."""
