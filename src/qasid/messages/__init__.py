"""Messages: accepting, reading and canceling SMS."""
