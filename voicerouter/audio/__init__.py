"""Audio for live calls: PCM16 conversion and framing, resampling, G.711, VAD, end-of-turn and barge-in.

Sans-I/O and CPU-cheap: bytes and timestamps in, samples and decisions out; never a socket or a clock.
Names load on first use, so importing `voicerouter.audio.settings` (the config) costs no numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicerouter.audio.bargein import BargeIn, BargeInDetector
    from voicerouter.audio.endpoint import EndpointDecision, Endpointer
    from voicerouter.audio.pcm import FrameBuffer, frame_bytes, frame_samples, level_dbfs
    from voicerouter.audio.playout import HeardText, PlayoutTracker, WordMark, heard_prefix
    from voicerouter.audio.resample import BlockResampler, Resampler, resample
    from voicerouter.audio.settings import AudioConfig, BargeInConfig, EndpointConfig, VadConfig
    from voicerouter.audio.vad import SpeechStarted, SpeechStopped, VadFrame, VoiceActivityDetector

_HOMES = {
    "BargeIn": "bargein",
    "BargeInDetector": "bargein",
    "EndpointDecision": "endpoint",
    "Endpointer": "endpoint",
    "FrameBuffer": "pcm",
    "frame_bytes": "pcm",
    "frame_samples": "pcm",
    "level_dbfs": "pcm",
    "HeardText": "playout",
    "PlayoutTracker": "playout",
    "WordMark": "playout",
    "heard_prefix": "playout",
    "BlockResampler": "resample",
    "Resampler": "resample",
    "resample": "resample",
    "AudioConfig": "settings",
    "BargeInConfig": "settings",
    "EndpointConfig": "settings",
    "VadConfig": "settings",
    "SpeechStarted": "vad",
    "SpeechStopped": "vad",
    "VadFrame": "vad",
    "VoiceActivityDetector": "vad",
}

__all__ = [
    "AudioConfig",
    "BargeIn",
    "BargeInConfig",
    "BargeInDetector",
    "BlockResampler",
    "EndpointConfig",
    "EndpointDecision",
    "Endpointer",
    "FrameBuffer",
    "HeardText",
    "PlayoutTracker",
    "Resampler",
    "SpeechStarted",
    "SpeechStopped",
    "VadConfig",
    "VadFrame",
    "VoiceActivityDetector",
    "WordMark",
    "frame_bytes",
    "frame_samples",
    "heard_prefix",
    "level_dbfs",
    "resample",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'voicerouter.audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"voicerouter.audio.{home}"), name)
    globals()[name] = value
    return value
