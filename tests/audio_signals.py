"""Deterministic test signals for the audio tests: tones, white noise and a synthetic voiced-speech stand-in.

Signals are built from seeds, so every run sees the same samples; nothing here is loaded from disk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal

Int16Array = npt.NDArray[np.int16]

VOWELS_HZ = (  # (F1, F2, F3) of a few vowels, so successive syllables differ like real speech
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
    (300.0, 870.0, 2240.0),
)


def tone(freq_hz: float, rate_hz: int, duration_ms: float, level: float = 0.5) -> Int16Array:
    t = np.arange(int(rate_hz * duration_ms / 1000)) / rate_hz
    return np.rint(level * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def white_noise(rate_hz: int, duration_ms: float, level: float, seed: int = 0) -> Int16Array:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(rate_hz * duration_ms / 1000)) * level * 32767
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def silence(rate_hz: int, duration_ms: float) -> Int16Array:
    return np.zeros(int(rate_hz * duration_ms / 1000), dtype=np.int16)


def voiced_speech(rate_hz: int, duration_ms: float, seed: int = 0, level: float = 0.3) -> Int16Array:
    """Vowel-like syllables standing in for a talker: a jittered 100-160 Hz glottal pulse train, rolled off,
    through three formant resonators, lip radiation, and a 4 Hz syllable envelope.
    """
    rng = np.random.default_rng(seed)
    n = int(rate_hz * duration_ms / 1000)
    syllable_n = int(rate_hz * 0.25)
    out = np.zeros(n)
    for start in range(0, n, syllable_n):
        length = min(syllable_n, n - start)
        f0 = rng.uniform(100.0, 160.0) * (1 + 0.05 * np.sin(np.linspace(0, np.pi, length)))
        phase = np.cumsum(f0 / rate_hz)
        pulses = (np.diff(np.floor(phase), prepend=np.floor(phase[0])) > 0).astype(float)
        x = signal.lfilter([1.0], [1.0, -0.95], pulses) + 0.02 * rng.standard_normal(length)
        vowel = VOWELS_HZ[rng.integers(len(VOWELS_HZ))]
        for formant_hz, bandwidth_hz in zip(vowel, (90.0, 110.0, 170.0), strict=True):
            freq = min(formant_hz, 0.45 * rate_hz)
            r = np.exp(-np.pi * bandwidth_hz / rate_hz)
            x = signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / rate_hz), r * r], x)
        x = np.diff(x, prepend=0.0)
        x /= np.max(np.abs(x)) + 1e-12
        out[start : start + length] = x * np.sin(np.linspace(0, np.pi, length)) ** 0.3
    out /= np.max(np.abs(out)) + 1e-12
    return np.rint(out * level * 32767).astype(np.int16)


def concat(*parts: Int16Array) -> Int16Array:
    return np.concatenate(parts).astype(np.int16)
