"""The speech tier in a live call: one OpenAI Realtime session per call, voicing speech-routed turns."""
