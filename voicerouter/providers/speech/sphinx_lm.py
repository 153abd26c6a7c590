"""Builds a pocketsphinx language model for an agent's domain: an ARPA trigram file plus extra pronunciations.

Files are content-addressed in a cache directory and written atomically, so processes can share them; it never
loads a decoder and never touches the stock model files it reads.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pocketsphinx

from voicerouter.providers.speech.lexicon import Lexicon
from voicerouter.providers.speech.ngram import NgramModel
from voicerouter.providers.speech.spoken import spoken_sentences

log = logging.getLogger(__name__)

LM_FORMAT_VERSION = "1"  # bump when the estimator or file layout changes, so stale caches are ignored
DEFAULT_ORDER = 3


def stock_model_dir() -> Path:
    return Path(pocketsphinx.get_model_path()) / "en-us"


def stock_acoustic_model() -> Path:
    return stock_model_dir() / "en-us"


def stock_dictionary() -> Path:
    return stock_model_dir() / "cmudict-en-us.dict"


def stock_language_model() -> Path:
    return stock_model_dir() / "en-us.lm.bin"


def default_cache_dir() -> Path:
    """`$VOICEROUTER_CACHE_DIR/speech`, else `$XDG_CACHE_HOME/voicerouter/speech`, else ~/.cache/..."""
    root = os.environ.get("VOICEROUTER_CACHE_DIR")
    if root:
        return Path(root) / "speech"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "voicerouter" / "speech"


@lru_cache(maxsize=2)
def load_lexicon(path: Path) -> Lexicon:
    """The dictionary is 130k lines: read it once per process."""
    return Lexicon(path)


@dataclass(frozen=True)
class DomainModel:
    """Files a decoder needs to recognise one domain, and what building them found."""

    lm_path: Path
    extra_dict_path: Path  # CMU-format lines for words the stock dictionary lacks (may be empty)
    vocabulary_size: int
    sentence_count: int
    unknown_words: tuple[str, ...]  # dropped: no pronunciation could be found or built


def build_domain_model(
    phrases: Iterable[str],
    cache_dir: Path | None = None,
    *,
    order: int = DEFAULT_ORDER,
    dictionary: Path | None = None,
    boost: Iterable[str] = (),
    boost_repeats: int = 8,
) -> DomainModel:
    """The domain LM for `phrases`, from the cache when the same inputs were built before.

    Words without a pronunciation split their sentence (the LM never sees a word the decoder cannot say).
    `boost` phrases are counted `boost_repeats` times: call-time hints weigh more than the domain corpus.
    CPU work (about 0.1 s for an agent's corpus, half that when cached): at start-up or in a worker.
    """
    dictionary = dictionary or stock_dictionary()
    corpus = [words for phrase in phrases for words in spoken_sentences(phrase)]
    boosted = [words for phrase in boost for words in spoken_sentences(phrase)]
    corpus.extend(words for words in boosted for _ in range(max(1, boost_repeats)))
    if not corpus:
        raise ValueError("build_domain_model: no words in the phrases given")
    digest = _digest(corpus, order, dictionary)
    directory = cache_dir or default_cache_dir()
    lm_path = directory / f"domain-{digest}.arpa"
    dict_path = directory / f"domain-{digest}.dict"

    lexicon = load_lexicon(dictionary)
    extra, unknown = lexicon.resolve(w for words in corpus for w in words)
    known = set(extra)
    sentences = [part for words in corpus for part in _split_at_unknown(words, lexicon, known)]
    if not sentences:
        raise ValueError("build_domain_model: no phrase has a word the pronunciation dictionary knows")
    vocabulary = {w for words in sentences for w in words}
    if unknown:
        log.info(
            "domain LM: %d words without pronunciation dropped: %s", len(unknown), ", ".join(unknown[:20])
        )
    if not (lm_path.is_file() and dict_path.is_file()):
        model = NgramModel(sentences, order=order)
        text = io.StringIO()
        model.write_arpa(text)
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(dict_path, "".join(f"{word} {phones}\n" for word, phones in sorted(extra.items())))
        _write_atomically(lm_path, text.getvalue())
    return DomainModel(
        lm_path=lm_path,
        extra_dict_path=dict_path,
        vocabulary_size=len(vocabulary),
        sentence_count=len(sentences),
        unknown_words=tuple(unknown),
    )


def _split_at_unknown(words: list[str], lexicon: Lexicon, extra: set[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for word in words:
        if word in lexicon or word in extra:
            parts[-1].append(word)
        elif parts[-1]:
            parts.append([])
    return [part for part in parts if part]


def _digest(corpus: list[list[str]], order: int, dictionary: Path) -> str:
    # The dictionary's size stands in for its version: a new pocketsphinx wheel must not reuse stale files.
    size = dictionary.stat().st_size if dictionary.is_file() else -1
    hasher = hashlib.sha256(f"v{LM_FORMAT_VERSION}|order={order}|dict={dictionary}:{size}\n".encode())
    for words in corpus:
        hasher.update(" ".join(words).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()[:20]


def _write_atomically(path: Path, text: str) -> None:
    """Readers in other processes see the old file or the whole new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; the cache is shared by every worker and service
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_extra_words(path: Path) -> list[tuple[str, str]]:
    """(word, phones) pairs of a domain `.dict` file, for `Decoder.add_word`."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, phones = line.strip().partition(" ")
        if word and phones:
            pairs.append((word, phones.strip()))
    return pairs
