"""The caller's utterance streamed to the recogniser as it is spoken, when the recogniser can stream.

The listener owns the audio of the open utterance; this keeps one recogniser stream per utterance and feeds
it whatever the listener has that the stream has not had, so the words are known at each pause and the final
transcript follows the end of the turn at once. A stream that cannot open (no free decoder) or breaks leaves
the utterance to a whole decode: the pipeline falls back, the caller is heard either way.
"""

from __future__ import annotations

import logging

from voicerouter.audio.listener import CallerListener
from voicerouter.providers.speech.base import SpeechError, SpeechStream, StreamingSpeechToText, Transcription

log = logging.getLogger(__name__)


class UtteranceStreamer:
    """One recogniser stream for the listener's open utterance, kept up to date frame by frame."""

    def __init__(self, stt: StreamingSpeechToText, listener: CallerListener, call_id: str) -> None:
        self.stt = stt
        self.listener = listener
        self.call_id = call_id
        self._stream: SpeechStream | None = None
        self._utterance: int | None = None  # the utterance (its start sample) the stream belongs to
        self._fed = 0  # bytes of that utterance the stream has had
        self._tried: int | None = None  # the utterance a stream could not be opened for
        self._previous: SpeechStream | None = None  # the last ended utterance's, for its `carry`

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def sync(self) -> None:
        """After the listener took audio: open a stream for a new utterance, feed it what is new."""
        start = self.listener.utterance_start_sample
        if start is None:
            return  # no utterance open; a finished one is ended by `finish` with its whole audio
        if self._stream is not None and self._utterance != start:
            self.cancel()  # an utterance the listener dropped without a turn end
        if self._stream is None:
            if self._tried == start:
                return
            self._tried = start
            carry = self._previous.carry if self._previous is not None else None
            self._stream = self.stt.open_stream(self.listener.rate_hz, carry=carry)
            if self._stream is None:
                return
            self._utterance, self._fed = start, 0
        audio = self.listener.utterance_audio_from(self._fed)
        if audio:
            self._stream.feed(audio)
            self._fed += len(audio)

    async def hypothesis(self) -> Transcription | None:
        """The words so far of the open utterance; None when it is not streamed (decode it whole)."""
        stream = self._stream
        if stream is None:
            return None
        try:
            return await stream.hypothesis()
        except SpeechError as exc:
            log.warning("call %s: streaming recognition broke, decoding whole: %s", self.call_id, exc)
            if self._stream is stream:
                self._drop()
            return None

    def take(self, utterance: bytes) -> SpeechStream | None:
        """The stream of the utterance that just ended, fed to its last byte (`utterance` is its audio),
        handed over to be finished; None when it was not streamed."""
        stream, fed = self._stream, self._fed
        self._drop()
        if stream is None:
            return None
        if fed > len(utterance):  # not the audio this stream had: never mix two utterances
            stream.cancel()
            return None
        stream.feed(utterance[fed:])
        self._previous = stream  # the caller's next utterance starts from what this one measures
        return stream

    def cancel(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._drop()

    def _drop(self) -> None:
        self._stream, self._utterance, self._fed = None, None, 0
