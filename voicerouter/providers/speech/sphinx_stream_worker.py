"""The pocketsphinx side of streaming recognition, run inside a worker process: one decoder per open stream,
fed audio as the caller speaks, so the words are known at the pause and the final result follows at once.

A worker process serves several streams over one pipe. Messages are tuples, each a request the parent made:
`("open", id, StreamSetup)`, `("audio", id, pcm16)`, `("hypothesis", id)`, `("finish", id)`,
`("cancel", id)`, `("stop",)`; replies are `("hypothesis", id, text, confidence)`, `("final", id,
DecodeResult)` and `("error", id, message)`. Nothing here knows about asyncio. A decoder without the stock
language model costs about 25 MB (with it, about 90), so a stream decodes with its agent's domain model only;
the stock second opinion for an unsure result is the batch pool's job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pocketsphinx

from voicerouter.audio.pcm import pcm16_to_int16
from voicerouter.audio.resample import Resampler
from voicerouter.providers.speech.sphinx_pool import exit_with_parent
from voicerouter.providers.speech.sphinx_worker import (
    DECODE_RATE_HZ,
    DITHER_RMS,
    DecodeResult,
    LoadedDecoder,
    word_confidence,
)


@dataclass(frozen=True)
class StreamSetup:
    """What a stream needs to start: the models and the rate its audio comes at."""

    acoustic_model: str
    dictionary: str
    lm_path: str
    extra_dict_path: str | None
    sample_rate_hz: int
    pad_ms: int
    # Where cepstral mean normalisation starts: the caller's last utterance's mean (see `_Stream`), else the
    # worker's running mean of recent utterances.
    cmn: str | None = None


class _StreamDecoder(LoadedDecoder):
    """A decoder without the stock language model, reused utterance after utterance."""

    def __init__(self, acoustic_model: str, dictionary: str) -> None:
        # fwdflat off: its second search over the whole utterance is what made the final wait (186 ms p50
        # after the last audio, 469 max, on 20 held-out sentences at 8 kHz); without it 46 / 94 ms, and the
        # words were no worse (word accuracy 0.322 against 0.296; a whole decode 0.315).
        config = pocketsphinx.Config(hmm=acoustic_model, dict=dictionary, fwdflat=False, loglevel="FATAL")
        config["lm"] = None  # no stock model: it would triple the decoder's memory
        super().__init__(pocketsphinx.Decoder(config))
        self.models = (acoustic_model, dictionary)

    def activate(self, lm_path: str, extra_dict_path: str | None) -> None:
        self.decoder.activate_search(self.search_for(lm_path, extra_dict_path))


class _Stream:
    """An utterance being decoded: its decoder, its resampler and dither, and how much audio it has had.

    Live cepstral mean normalisation starts from an estimate and moves slowly (a prior worth 5 s of audio),
    so with the model's fixed start the first seconds of every utterance are normalised wrongly: measured on
    20 held-out clinic sentences at 8 kHz, word accuracy 0.18 streamed against 0.32 decoded whole. Started
    from the mean of the caller's previous utterance it was 0.35. So each finished stream measures its own
    utterance's mean (the front end over its audio once more, after the final result has gone: it costs
    about 0.05x the audio) and hands it back, to start the caller's next utterance from.
    """

    def __init__(self, decoder: _StreamDecoder, setup: StreamSetup, default_cmn: str | None) -> None:
        self.decoder = decoder
        self.setup = setup
        self.resampler = (
            Resampler(setup.sample_rate_hz, DECODE_RATE_HZ)
            if setup.sample_rate_hz != DECODE_RATE_HZ
            else None
        )
        self.dither = np.random.default_rng(0)  # one input always decodes the same way
        self.audio_ms = 0.0
        self.decode_s = 0.0
        self.heard: list[bytes] = []  # the audio as decoded, for the utterance's own mean at the end
        decoder.activate(setup.lm_path, setup.extra_dict_path)
        # A fresh front end per utterance (see sphinx_worker.LoadedDecoder.run), started from a known mean.
        decoder.decoder.reinit_feat()
        start_cmn = setup.cmn or default_cmn
        if start_cmn:
            decoder.decoder.set_cmn(start_cmn)
        decoder.decoder.start_utt()
        self._process(np.zeros(DECODE_RATE_HZ * setup.pad_ms // 1000))

    def feed(self, pcm16: bytes) -> None:
        samples = pcm16_to_int16(pcm16)
        self.audio_ms += len(samples) * 1000.0 / self.setup.sample_rate_hz
        signal = self.resampler.process_float(samples) if self.resampler is not None else samples
        self._process(np.asarray(signal, dtype=np.float64))

    def _process(self, signal: np.ndarray[Any, Any]) -> None:
        if not len(signal):
            return
        noisy = signal + self.dither.normal(0.0, DITHER_RMS, len(signal))
        audio = np.clip(np.rint(noisy), -32768, 32767).astype("<i2").tobytes()
        self.heard.append(audio)
        started = time.perf_counter()
        self.decoder.decoder.process_raw(audio, no_search=False, full_utt=False)
        self.decode_s += time.perf_counter() - started

    def hypothesis(self) -> tuple[str, float]:
        found = self.decoder.decoder.hyp()
        text = " ".join(found.hypstr.split()) if found is not None else ""
        return (
            text,
            0.0,
        )  # a partial's posterior is not computed (it needs the lattice of a finished utterance)

    def finish(self) -> DecodeResult:
        """The final result."""
        started = time.perf_counter()
        self._process(np.zeros(DECODE_RATE_HZ * self.setup.pad_ms // 1000))
        decoder = self.decoder.decoder
        decoder.end_utt()
        found = decoder.hyp()
        text = " ".join(found.hypstr.split()) if found is not None else ""
        confidence = word_confidence(decoder.get_prob(), len(text.split())) if text else 0.0
        tail_ms = (time.perf_counter() - started) * 1000.0
        return DecodeResult(text=text, confidence=confidence, audio_ms=self.audio_ms, search="domain",
                            decode_ms=tail_ms)  # fmt: skip

    def measure_cmn(self) -> str:
        """This utterance's own cepstral mean, as batch normalisation computes it over the whole audio."""
        decoder = self.decoder.decoder
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(b"".join(self.heard), no_search=True, full_utt=True)
        cmn = str(decoder.get_cmn(False))
        decoder.end_utt()
        return cmn

    def cancel(self) -> None:
        self.decoder.decoder.end_utt()


def serve(conn: Connection, parent_pid: int, max_streams: int) -> None:
    """A worker's loop: answer the parent's requests until it says stop or goes away."""
    exit_with_parent(parent_pid)
    free: list[_StreamDecoder] = []
    streams: dict[int, _Stream] = {}
    running_cmn: np.ndarray[Any, Any] | None = None  # recent utterances' mean: where a new caller starts
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind, *rest = message
        if kind == "stop":
            return
        stream_id = rest[0]
        try:
            if kind == "open":
                setup: StreamSetup = rest[1]
                if len(streams) >= max_streams:
                    raise RuntimeError(f"{max_streams} streams already open in worker {os.getpid()}")
                decoder = next(
                    (d for d in free if d.models == (setup.acoustic_model, setup.dictionary)), None
                )
                if decoder is None:
                    decoder = _StreamDecoder(setup.acoustic_model, setup.dictionary)
                else:
                    free.remove(decoder)
                default = None if running_cmn is None else ",".join(f"{v:.2f}" for v in running_cmn)
                streams[stream_id] = _Stream(decoder, setup, default)
            elif kind == "audio":
                stream = streams.get(stream_id)
                if stream is not None:
                    stream.feed(rest[1])
            elif kind == "hypothesis":
                text, confidence = streams[stream_id].hypothesis()
                conn.send(("hypothesis", stream_id, text, confidence))
            elif kind == "finish":
                stream = streams[stream_id]
                conn.send(("final", stream_id, stream.finish()))
                cmn = stream.measure_cmn()  # after the final has gone: off the caller's wait
                del streams[stream_id]
                free.append(stream.decoder)
                measured = np.array([float(v) for v in cmn.split(",")])
                running_cmn = measured if running_cmn is None else 0.8 * running_cmn + 0.2 * measured
                conn.send(("carry", stream_id, cmn))
            elif kind == "cancel":
                stream = streams.pop(stream_id, None)
                if stream is not None:
                    free.append(stream.decoder)
                    stream.cancel()
        except Exception as exc:  # RuntimeError/ValueError from pocketsphinx: one stream's fault ends it only
            broken = streams.pop(stream_id, None)
            if broken is not None:
                try:
                    broken.cancel()
                    free.append(broken.decoder)
                except Exception:
                    pass  # that decoder is unusable: let it go
            conn.send(("error", stream_id, f"{type(exc).__name__}: {exc}"))
