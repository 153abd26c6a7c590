"""Speech-to-text and text-to-speech engines behind two small protocols: offline (pocketsphinx, espeak-ng) and
OpenAI.

Importing the package loads only the protocols; each engine (and its SDK or native library) loads on first
use, so a recogniser worker process never pays for the OpenAI SDK it does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from voicerouter.providers.speech.base import (
    SpeechError,
    SpeechErrorKind,
    SpeechToText,
    TextToSpeech,
    Transcription,
)

if TYPE_CHECKING:
    from voicerouter.providers.speech.domain import domain_phrases
    from voicerouter.providers.speech.espeak_tts import EspeakTTS
    from voicerouter.providers.speech.openai_speech import OpenAISpeech, OpenAITranscriber
    from voicerouter.providers.speech.pocketsphinx_stt import PocketsphinxSTT

_LAZY = {
    "EspeakTTS": "voicerouter.providers.speech.espeak_tts",
    "OpenAISpeech": "voicerouter.providers.speech.openai_speech",
    "OpenAITranscriber": "voicerouter.providers.speech.openai_speech",
    "PocketsphinxSTT": "voicerouter.providers.speech.pocketsphinx_stt",
    "domain_phrases": "voicerouter.providers.speech.domain",
}

__all__ = [
    "EspeakTTS",
    "OpenAISpeech",
    "OpenAITranscriber",
    "PocketsphinxSTT",
    "SpeechError",
    "SpeechErrorKind",
    "SpeechToText",
    "TextToSpeech",
    "Transcription",
    "domain_phrases",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voicerouter.providers.speech' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
