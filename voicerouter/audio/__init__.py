"""Audio for live calls: PCM16 conversion and framing, resampling, G.711, VAD, end-of-turn and barge-in.

Sans-I/O and CPU-cheap: bytes and timestamps in, samples and decisions out; never a socket or a clock.
"""

from voicerouter.audio.bargein import BargeIn, BargeInDetector
from voicerouter.audio.endpoint import EndpointDecision, Endpointer
from voicerouter.audio.pcm import FrameBuffer, frame_bytes, frame_samples, level_dbfs
from voicerouter.audio.playout import HeardText, PlayoutTracker, WordMark, heard_prefix
from voicerouter.audio.resample import Resampler, resample
from voicerouter.audio.settings import AudioConfig, BargeInConfig, EndpointConfig, VadConfig
from voicerouter.audio.vad import SpeechStarted, SpeechStopped, VadFrame, VoiceActivityDetector

__all__ = [
    "AudioConfig",
    "BargeIn",
    "BargeInConfig",
    "BargeInDetector",
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
