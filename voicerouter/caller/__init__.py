"""The `voicerouter call` client: a caller that streams a WAV to a running server."""
