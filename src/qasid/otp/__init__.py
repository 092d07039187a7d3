"""One-time codes: verifications created, sent, checked, canceled and resent (``/v1/verifications``)."""
