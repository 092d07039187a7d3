"""Messages from phones (MO): stored as they arrive, concatenated parts reassembled."""
