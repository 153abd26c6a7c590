"""The speech registries: one table per service kind, each entry a module's factory, errors that name it."""

from __future__ import annotations

import importlib

import pytest

from voicerouter.providers.speech.base import SpeechToText, TextToSpeech
from voicerouter.providers.speech.espeak_tts import EspeakTTS
from voicerouter.providers.speech.registry import STT, TTS, TTS_RATE_HZ, build_engines, choose_engines


@pytest.mark.parametrize("target", [*STT.values(), *TTS.values()])
def test_every_registry_line_names_a_factory_that_exists(target: str) -> None:
    module, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_an_unknown_engine_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown STT engine 'deepgram'; known: offline, openai"):
        build_engines("deepgram", "offline", {})
    with pytest.raises(ValueError, match=r"unknown TTS engine 'piper'"):
        build_engines("offline", "piper", {})


@pytest.mark.skipif(not EspeakTTS.available(), reason="espeak-ng binary not on PATH")
async def test_offline_entries_give_espeak_at_the_shared_rate_and_a_pocketsphinx_builder() -> None:
    engines = choose_engines("auto", {})
    try:
        assert isinstance(engines.tts, EspeakTTS) and engines.tts.sample_rate_hz == TTS_RATE_HZ
        assert isinstance(engines.tts, TextToSpeech)
    finally:
        await engines.aclose()


async def test_openai_entries_serve_every_agent_with_one_transcriber() -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    engines = choose_engines("auto", env)
    try:
        stt = await engines.stt_for("clinic")
        assert isinstance(stt, SpeechToText) and stt is await engines.stt_for("dental")
        assert engines.tts.name == "openai" and engines.tts.sample_rate_hz == TTS_RATE_HZ
    finally:
        await engines.aclose()
