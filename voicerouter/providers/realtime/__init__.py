"""OpenAI Realtime (speech to speech over WebSocket): a sans-I/O protocol core and its asyncio session."""
