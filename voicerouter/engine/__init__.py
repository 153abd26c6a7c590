"""The per-call engine (sans-I/O): inputs in, actions and events out, on a Clock."""

from voicerouter.engine.call import CallEngine

__all__ = ["CallEngine"]
