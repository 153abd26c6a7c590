"""The offline agent model: deterministic understanding and dialogue that serve an agent with no API key."""
