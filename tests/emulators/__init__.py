"""Local emulators of third-party messaging APIs, for tests."""
