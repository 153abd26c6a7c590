"""Local protocol servers that tests run the real vendor SDKs against; they bind 127.0.0.1 only."""
