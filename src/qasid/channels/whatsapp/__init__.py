"""WhatsApp Cloud API: verification codes as authentication template messages."""
