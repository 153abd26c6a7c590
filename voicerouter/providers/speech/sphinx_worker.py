"""The pocketsphinx side of offline recognition, run inside a worker process: prepare audio, decode, score.

Plain functions on picklable jobs, so a process pool can run them; nothing here knows about asyncio, and a
decoder (about 1 s and 60 MB to load with the stock model) is built once per worker and kept.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pocketsphinx

from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.audio.resample import resample
from voicerouter.providers.speech.sphinx_lm import DomainModel, build_domain_model, read_extra_words

DECODE_RATE_HZ = 16_000
STOCK_SEARCH = "_default"  # the name pocketsphinx gives the search of the `lm` it was configured with
_MAX_LOADED_SEARCHES = 8  # domain LMs plus hint-biased variants kept per decoder
READINGS = 4  # other readings kept from the N-best list: enough to see a tail in doubt, ~1 ms to read
_NBEST_SCAN = 12  # N-best entries looked at to find them (the list repeats a reading with other silences)
# Exact digital zeros (padding, gaps in synthetic speech, muted phone legs) wreck pocketsphinx's log-energy
# features and cepstral mean normalisation: measured here, word accuracy on espeak-ng speech rose from about
# 20% to about 55% once the signal carried noise at about -54 dBFS. A microphone adds some; this adds it here.
DITHER_RMS = 64.0


@dataclass(frozen=True)
class DecoderSetup:
    """The expensive, shared part of a decoder: acoustic model, dictionary and the stock language model."""

    acoustic_model: str
    dictionary: str
    stock_lm: str


@dataclass(frozen=True)
class DecodeJob:
    """One utterance sent to a worker process, with everything it needs to decode it there."""

    pcm16: bytes
    sample_rate_hz: int
    setup: DecoderSetup
    lm_path: str | None  # the domain model; None decodes with the stock model only
    extra_dict_path: str | None
    fallback_below: float  # decode again with the stock model when the domain result is less confident
    pad_ms: int


@dataclass(frozen=True)
class DecodeResult:
    """What a worker heard, which search produced it and what the decode cost, sent back to the event loop."""

    text: str
    confidence: float
    audio_ms: float
    search: str  # "domain" or "stock"
    decode_ms: float
    alternatives: tuple[str, ...] = ()  # other readings, likeliest first


@dataclass(frozen=True)
class BuildJob:
    """Build (or find cached) a domain model in a worker: pure-Python CPU work, kept off the event loop."""

    phrases: tuple[str, ...]
    cache_dir: str | None
    boost: tuple[str, ...] = ()


class LoadedDecoder:
    """A decoder and the domain searches loaded into it (most recently used last)."""

    def __init__(self, decoder: pocketsphinx.Decoder) -> None:
        self.decoder = decoder
        self.searches: OrderedDict[str, str] = OrderedDict()  # lm path -> search name
        self._loaded = 0

    def search_for(self, lm_path: str, extra_dict_path: str | None) -> str:
        name = self.searches.get(lm_path)
        if name is not None:
            self.searches.move_to_end(lm_path)
            return name
        if extra_dict_path:
            # update=False: with True, every word rebuilds the active search (the stock LM's, ~0.8 s each),
            # which made loading an agent with 29 extra words take 25 s; the domain search built below from
            # `lm_path` reads the dictionary as it is then, words included.
            for word, phones in read_extra_words(Path(extra_dict_path)):
                if self.decoder.lookup_word(word) is None:
                    self.decoder.add_word(word, phones, False)
        self._loaded += 1
        name = f"domain{self._loaded}"
        self.decoder.add_lm_file(name, lm_path)
        self.searches[lm_path] = name
        if len(self.searches) > _MAX_LOADED_SEARCHES:
            _, evicted = self.searches.popitem(last=False)
            self.decoder.remove_search(evicted)
        return name

    @classmethod
    def for_setup(cls, setup: DecoderSetup) -> LoadedDecoder:
        return cls(pocketsphinx.Decoder(hmm=setup.acoustic_model, dict=setup.dictionary, lm=setup.stock_lm,
                                        loglevel="FATAL"))  # fmt: skip

    def run(self, search: str, audio: bytes) -> tuple[str, float, tuple[str, ...]]:
        decoder = self.decoder
        decoder.activate_search(search)
        # Live cepstral mean normalisation carries its estimate from one utterance to the next, so a worker
        # shared by many calls would let one caller's audio shift another's result (measured: scores and
        # occasionally words changed with the order of utterances). A fresh front end per utterance keeps
        # results independent of history and reproducible in replay, for about 20 µs.
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(audio, no_search=False, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        text = " ".join(hypothesis.hypstr.split()) if hypothesis is not None else ""
        if not text:
            return "", 0.0, ()
        return text, word_confidence(decoder.get_prob(), len(text.split())), self.readings(text)

    def readings(self, best: str) -> tuple[str, ...]:
        """Up to READINGS other word sequences from the last utterance's lattice, likeliest first. They show
        where the recogniser was unsure: "move my appointment at two" has "... at to" next to it."""
        found: list[str] = []
        try:
            for index, entry in enumerate(self.decoder.nbest()):
                if index >= _NBEST_SCAN or len(found) >= READINGS:
                    break
                reading = " ".join(entry.hypstr.split())
                if reading and reading != best and reading not in found:
                    found.append(reading)
        except RuntimeError:  # no lattice (e.g. nothing but silence): the best reading is all there is
            return ()
        return tuple(found)


_decoders: dict[DecoderSetup, LoadedDecoder] = {}


def word_confidence(utterance_posterior: float, words: int) -> float:
    """Geometric mean of the per-word posterior: the lattice posterior of a whole sentence shrinks with its
    length, its n-th root does not. Measured here on espeak-ng speech: correct sentences score 0.4-0.6,
    garbled ones 0.1-0.2."""
    if words <= 0 or not utterance_posterior > 0.0:
        return 0.0
    return min(1.0, math.exp(math.log(min(utterance_posterior, 1.0)) / words))


def prepare_audio(pcm16: bytes, sample_rate_hz: int, pad_ms: int) -> bytes:
    """Resample to 16 kHz, pad both ends with `pad_ms` of quiet, and dither so no stretch is digital zero.

    The dither is seeded by the audio length so one input always decodes the same way.
    """
    samples = pcm16_to_int16(pcm16)
    resampled = (
        resample(samples, sample_rate_hz, DECODE_RATE_HZ) if sample_rate_hz != DECODE_RATE_HZ else samples
    )
    pad = np.zeros(DECODE_RATE_HZ * pad_ms // 1000, dtype=np.float64)
    signal = np.concatenate((pad, resampled.astype(np.float64), pad))
    noise = np.random.default_rng(len(signal)).normal(0.0, DITHER_RMS, len(signal))
    return np.clip(np.rint(signal + noise), -32768, 32767).astype("<i2").tobytes()


def decode(job: DecodeJob) -> DecodeResult:
    """Recognise one utterance: domain model first, stock model when the domain result is unsure."""
    started = time.perf_counter()
    audio_ms = len(job.pcm16) / 2 * 1000.0 / job.sample_rate_hz
    loaded = _decoders.get(job.setup)
    if loaded is None:
        loaded = _decoders[job.setup] = LoadedDecoder.for_setup(job.setup)
    audio = prepare_audio(job.pcm16, job.sample_rate_hz, job.pad_ms)
    search, label = STOCK_SEARCH, "stock"
    if job.lm_path is not None:
        search, label = loaded.search_for(job.lm_path, job.extra_dict_path), "domain"
    text, confidence, readings = loaded.run(search, audio)
    if label == "domain" and confidence < job.fallback_below:
        stock_text, stock_confidence, stock_readings = loaded.run(STOCK_SEARCH, audio)
        if stock_confidence > confidence:
            text, confidence, label, readings = stock_text, stock_confidence, "stock", stock_readings
    return DecodeResult(
        text=text,
        confidence=confidence,
        audio_ms=audio_ms,
        search=label,
        decode_ms=(time.perf_counter() - started) * 1000.0,
        alternatives=readings,
    )


def build(job: BuildJob) -> DomainModel:
    return build_domain_model(job.phrases, Path(job.cache_dir) if job.cache_dir else None, boost=job.boost)


def warm_up(setup: DecoderSetup, lm_path: str | None, extra_dict_path: str | None) -> None:
    """Load the decoder and the domain search now, so the first caller does not wait for them."""
    loaded = _decoders.get(setup)
    if loaded is None:
        loaded = _decoders[setup] = LoadedDecoder.for_setup(setup)
    if lm_path is not None:
        loaded.search_for(lm_path, extra_dict_path)
