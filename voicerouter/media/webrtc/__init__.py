"""The WebRTC transport (aiortc): signalling, the agent's track, the caller's audio, the events channel."""
