"""Offline text-to-speech with the espeak-ng binary, streamed sentence by sentence as PCM16 chunks.

It runs espeak-ng as a subprocess without a shell (text goes in on stdin, never on the command line) and never
leaves one behind: a stopped or cancelled synthesis kills and reaps its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import shutil
from collections.abc import AsyncGenerator, Mapping

from voicerouter.audio.pcm import FrameBuffer, frame_bytes, pcm16_to_int16, stereo_to_mono
from voicerouter.audio.resample import BlockResampler
from voicerouter.audio.wav import WavError, WavStreamReader
from voicerouter.providers.speech.base import SpeechError
from voicerouter.providers.speech.sentences import split_sentences

INSTALL_HINT = "apt-get install espeak-ng"
_READ_BYTES = 8192
_STDERR_LIMIT_BYTES = 4096
_REAP_DEADLINE_S = 1.0  # a killed espeak-ng is reaped in milliseconds; longer means its pipes are stuck

log = logging.getLogger(__name__)


class EspeakTTS:
    """`TextToSpeech` over espeak-ng: one short-lived process per sentence.

    espeak-ng synthesises several hundred times faster than real time and writes its WAV as it goes, so
    the first chunk of the first sentence is out in about 10 ms; cutting the text into sentences bounds how
    much work a barge-in throws away and lets each sentence fail alone. Chunks are exactly `chunk_ms` long
    (the last one of a reply may be shorter) at `sample_rate_hz`, converted from espeak-ng's own rate
    (22050 Hz) in one soxr stage; `at_rate()` gives each call its transport's rate directly.
    """

    def __init__(
        self,
        *,
        sample_rate_hz: int = 16_000,
        voice: str = "en-us",
        words_per_minute: int = 170,
        pitch: int = 50,
        chunk_ms: int = 40,
        binary: str = "espeak-ng",
        name: str = "espeak-ng",
    ) -> None:
        if not 20 <= chunk_ms <= 100:
            raise ValueError(f"{name}: chunk_ms must be within 20-100, got {chunk_ms}")
        if not 80 <= words_per_minute <= 450 or not 0 <= pitch <= 99:
            raise ValueError(
                f"{name}: words_per_minute 80-450 and pitch 0-99, got {words_per_minute}, {pitch}"
            )
        self.name = name
        self.sample_rate_hz = sample_rate_hz
        self.chunk_ms = chunk_ms
        self.chunk_bytes = frame_bytes(sample_rate_hz, chunk_ms)
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.pitch = pitch
        self.binary = self._locate(binary)
        self.running: set[asyncio.subprocess.Process] = set()  # live processes, for tests and shutdown

    def at_rate(self, sample_rate_hz: int) -> EspeakTTS:
        """This voice at another rate; it shares `running`, so shutdown still sees every process."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        voice = copy.copy(self)
        voice.sample_rate_hz = sample_rate_hz
        voice.chunk_bytes = frame_bytes(sample_rate_hz, self.chunk_ms)
        return voice

    @staticmethod
    def available(binary: str = "espeak-ng") -> bool:
        return shutil.which(binary) is not None

    def _locate(self, binary: str) -> str:
        path = shutil.which(binary)
        if path is None:
            raise SpeechError(
                "unavailable", f"{self.name}: '{binary}' not found on PATH; install it with `{INSTALL_HINT}`"
            )
        return path

    def command(self) -> list[str]:
        """espeak-ng arguments: UTF-8 text from stdin, a WAV stream on stdout."""
        return [
            self.binary, "-v", self.voice, "-s", str(self.words_per_minute), "-p", str(self.pitch),
            "-b", "1", "--stdin", "--stdout",
        ]  # fmt: skip

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield PCM16 chunks for `text`, sentence by sentence.

        Iterate it inside `contextlib.aclosing(...)`: then closing it, or cancelling the task iterating it
        (barge-in), kills and reaps the running espeak-ng process before that returns. A stream dropped
        without closing is cleaned up by the event loop's async-generator finaliser, a little later.
        """
        chunker = FrameBuffer(self.chunk_bytes)
        for sentence in split_sentences(text):
            # aclosing: closing this generator must close the inner one now, not when it is collected.
            async with contextlib.aclosing(self._sentence(sentence)) as pieces:
                async for pcm in pieces:
                    for chunk in chunker.push(pcm):
                        yield chunk
        tail = chunker.flush()
        if tail:
            yield tail

    async def _sentence(self, sentence: str) -> AsyncGenerator[bytes, None]:
        process = await self._spawn()
        self.running.add(process)
        try:
            assert process.stdin is not None and process.stdout is not None
            # "[[...]]" would be read as raw phoneme codes: agent text is always text.
            process.stdin.write(sentence.replace("[[", "[ [").encode("utf-8") + b"\n")
            with contextlib.suppress(ConnectionError):  # espeak-ng may exit early on a bad voice
                await process.stdin.drain()
            process.stdin.close()
            reader = WavStreamReader()
            resampler: BlockResampler | None = None
            while data := await process.stdout.read(_READ_BYTES):
                payload = reader.feed(data)
                if not payload:
                    continue
                if resampler is None:
                    resampler = self._resampler_for(reader)
                pcm = self._to_mono(payload, reader)
                out = resampler.process_pcm16(pcm)
                if out:
                    yield out
            await self._check_exit(process, sentence)
            reader.finish()
            if resampler is not None:
                tail = resampler.flush_pcm16()
                if tail:
                    yield tail
        except WavError as exc:
            raise SpeechError(
                "engine_failed", f"{self.name}: unreadable output for {sentence!r}: {exc}"
            ) from exc
        finally:
            await self._stop(process)

    async def _spawn(self) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise SpeechError(
                "unavailable", f"{self.name}: {self.binary} is gone; install it with `{INSTALL_HINT}`"
            ) from exc
        except OSError as exc:
            raise SpeechError("unavailable", f"{self.name}: cannot start {self.binary}: {exc}") from exc

    def _resampler_for(self, reader: WavStreamReader) -> BlockResampler:
        """espeak-ng writes far faster than real time, so soxr's block latency costs nothing here."""
        assert reader.format is not None
        return BlockResampler(reader.format.sample_rate_hz, self.sample_rate_hz)

    @staticmethod
    def _to_mono(payload: bytes, reader: WavStreamReader) -> bytes:
        assert reader.format is not None
        channels = reader.format.channels
        if channels == 1:
            return payload
        if channels == 2:
            return stereo_to_mono(payload)
        samples = pcm16_to_int16(payload).reshape(-1, channels)[:, 0]
        return samples.astype("<i2").tobytes()

    async def _check_exit(self, process: asyncio.subprocess.Process, sentence: str) -> None:
        code = await process.wait()
        if code != 0:
            assert process.stderr is not None
            detail = (await process.stderr.read(_STDERR_LIMIT_BYTES)).decode("utf-8", "replace").strip()
            raise SpeechError(
                "engine_failed", f"{self.name}: exit status {code} for {sentence!r}: {detail or 'no message'}"
            )

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """Kill if still running, drain and close its pipes, then reap, even when the task is being cancelled.

        Draining is what makes the reap finish: on Python 3.11 `Process.wait()` resolves only once every
        pipe transport has seen EOF, and a stdout pipe that was paused (a consumer that stopped reading
        mid-sentence, as a hang-up does) never sees it, so a bare `wait()` on a killed espeak-ng never
        returns. `communicate()` resumes and reads the pipes to EOF and closes them, then waits.
        """
        try:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            reap = asyncio.ensure_future(_drain_and_reap(process))
            # Shielded: a second cancellation must not leave the child unreaped (a zombie) behind.
            done, _ = await asyncio.wait({reap}, timeout=_REAP_DEADLINE_S)
            if not done:
                log.error("%s: pid %s not reaped within %.1f s; closing its pipes", self.name, process.pid,
                          _REAP_DEADLINE_S)  # fmt: skip
                _close_transport(process)
                await asyncio.shield(reap)
        finally:
            self.running.discard(process)


def tts_service(env: Mapping[str, str], sample_rate_hz: int) -> EspeakTTS:
    """The `TTS` registry's "offline" entry: espeak-ng, which needs no configuration."""
    return EspeakTTS(sample_rate_hz=sample_rate_hz)
async def _drain_and_reap(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ConnectionError, ValueError):
        await process.communicate()
    await process.wait()


def _close_transport(process: asyncio.subprocess.Process) -> None:
    """Last resort if draining stalls: closing the transport disconnects every pipe, so `wait()` ends."""
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()
