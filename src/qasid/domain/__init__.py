"""Pure domain helpers: no I/O, nothing of ours imported."""
