"""Long numbers the operator holds and assigns to accounts: an account's number is one of its
senders and receives its inbound messages."""
