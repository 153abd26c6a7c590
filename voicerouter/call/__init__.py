"""The asyncio side of one call: the engine session, audio pipeline, outbound speech and recording."""
