"""An account's message templates, and what a text filled in for one recipient would cost."""
