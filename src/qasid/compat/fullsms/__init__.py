"""FullSMS (seed ``004``), mounted at ``/fullsms`` by default: the account (balance, numbers, lists,
sender IDs, templates), sending to lists (a native campaign) and to numbers (a native send), and
one-time codes (create, verify, cancel, search, on native verifications), with every error body the
document shows."""
