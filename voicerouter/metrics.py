"""A small in-process metrics registry (counters, gauges, histograms) in the Prometheus text format.

Updates are plain in-memory arithmetic on the event loop, cheap enough for every audio frame; it never does
I/O and never blocks. Rendering follows the text exposition format 0.0.4, which any Prometheus scraper reads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

LabelValues = tuple[str, ...]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _labels(names: Sequence[str], values: LabelValues, extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{_escape(extra[1])}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(label_names)

    def _key(self, labels: Sequence[str]) -> LabelValues:
        if len(labels) != len(self.label_names):
            raise ValueError(f"metric {self.name}: expected labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(v) for v in labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape(self.help_text)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    """Only goes up; a `_total` suffix is the convention for its name."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[LabelValues, float] = {} if label_names else {(): 0.0}

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name}: cannot decrease by {amount}")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def inc(self, amount: float = 1.0) -> None:
        self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        self._value -= amount

    @property
    def value(self) -> float:
        return self._value

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_number(self._value)}"


class Histogram(_Metric):
    """Cumulative buckets with upper bounds `buckets` (plus an implicit +Inf bucket), sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], label_names: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, label_names)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError(f"histogram {name}: buckets must be strictly increasing, got {list(buckets)}")
        self.buckets = tuple(float(b) for b in buckets)
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0] * (len(self.buckets) + 1)
            self._sums[key] = 0.0
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self._sums[key] += value

    def count(self, *labels: str) -> int:
        return sum(self._counts.get(self._key(labels), []))

    def samples(self) -> Iterable[str]:
        for key in sorted(self._counts):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), self._counts[key], strict=True):
                running += count
                le = ("le", _number(bound))
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(self._sums[key])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {running}"


class Registry:
    """Owns the metrics of one process; `render()` is the body of GET /metrics."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> None:
        if metric.name in self._metrics:
            raise ValueError(f"metrics registry: {metric.name} registered twice")
        self._metrics[metric.name] = metric

    def counter(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, label_names)
        self._add(metric)
        return metric

    def gauge(self, name: str, help_text: str) -> Gauge:
        metric = Gauge(name, help_text)
        self._add(metric)
        return metric

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float], label_names: Sequence[str] = ()
    ) -> Histogram:
        metric = Histogram(name, help_text, buckets, label_names)
        self._add(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
