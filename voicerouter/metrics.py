"""The process's metrics (counters, gauges, histograms) on prometheus-client, the reference implementation.

The small API the server uses (`registry.counter(...).inc(amount, *labels)`) stays the same; underneath,
each metric is a prometheus-client one, so `/metrics` is the standard text format and, with
`PROMETHEUS_MULTIPROC_DIR` set, the figures of several worker processes add up (prometheus-client's
multiprocess mode). Updates are in-memory arithmetic under a lock, cheap enough for every audio frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _PromCounter
from prometheus_client import Gauge as _PromGauge
from prometheus_client import Histogram as _PromHistogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what generate_latest writes
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
GaugeMode = Literal["livesum", "liveall", "max", "min", "sum", "all", "mostrecent"]

prometheus_client.disable_created_metrics()  # `_created` series double every counter for no use here


def multiprocess() -> bool:
    """True when worker processes share their figures through `PROMETHEUS_MULTIPROC_DIR`."""
    return bool(os.environ.get(MULTIPROC_ENV))


class _Metric:
    _metric: Any

    def __init__(self, name: str, label_names: Sequence[str]) -> None:
        self.name = name
        self.label_names = tuple(label_names)
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, labels: Sequence[str]) -> Any:
        """The labelled series, looked up once per label values (prometheus-client's lookup is slower)."""
        child = self._children.get(tuple(labels))
        if child is None:
            key = self._key(labels)
            child = self._children[tuple(labels)] = self._metric.labels(*key) if key else self._metric
        return child

    def _key(self, labels: Sequence[str]) -> tuple[str, ...]:
        if len(labels) != len(self.label_names):
            raise ValueError(f"metric {self.name}: expected labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(v) for v in labels)


class Counter(_Metric):
    """Only goes up; a `_total` suffix is the convention for its name."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, label_names: Sequence[str]):
        super().__init__(name, label_names)
        self._metric = _PromCounter(name, help_text, self.label_names, registry=registry)
        self._sample = name if name.endswith("_total") else name + "_total"
        self._registry = registry

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name}: cannot decrease by {amount}")
        self._child(labels).inc(amount)

    def value(self, *labels: str) -> float:
        """This process's count for `labels` (0 before the first increment)."""
        key = self._key(labels)
        found = self._registry.get_sample_value(self._sample, dict(zip(self.label_names, key, strict=True)))
        return found or 0.0


class Gauge(_Metric):
    """Goes up and down; across worker processes the figures combine by `multiprocess_mode`."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, mode: GaugeMode) -> None:
        super().__init__(name, ())
        self._metric = _PromGauge(name, help_text, registry=registry, multiprocess_mode=mode)
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value
        self._metric.set(value)

    def inc(self, amount: float = 1.0) -> None:
        self._value += amount
        self._metric.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._value -= amount
        self._metric.dec(amount)

    @property
    def value(self) -> float:
        """This process's value."""
        return self._value


class Histogram(_Metric):
    """Cumulative buckets with upper bounds `buckets` (plus the +Inf bucket), sum and count."""

    def __init__(
        self, registry: CollectorRegistry, name: str, help_text: str, buckets: Sequence[float],
        label_names: Sequence[str],
    ) -> None:  # fmt: skip
        super().__init__(name, label_names)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError(f"histogram {name}: buckets must be strictly increasing, got {list(buckets)}")
        self.buckets = tuple(float(b) for b in buckets)
        self._metric = _PromHistogram(
            name, help_text, self.label_names, registry=registry, buckets=self.buckets
        )
        self._registry = registry

    def observe(self, value: float, *labels: str) -> None:
        self._child(labels).observe(value)

    def count(self, *labels: str) -> int:
        """This process's number of observations for `labels`."""
        key = self._key(labels)
        where = dict(zip(self.label_names, key, strict=True))
        found = self._registry.get_sample_value(self.name + "_count", where)
        return int(found or 0)


class Registry:
    """Owns the metrics of one server; `render()` is the body of GET /metrics."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        self._names: set[str] = set()

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ValueError(f"metrics registry: {name} registered twice")
        self._names.add(name)

    def counter(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> Counter:
        self._claim(name)
        return Counter(self._registry, name, help_text, label_names)

    def gauge(self, name: str, help_text: str, multiprocess_mode: GaugeMode = "livesum") -> Gauge:
        self._claim(name)
        return Gauge(self._registry, name, help_text, multiprocess_mode)

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float], label_names: Sequence[str] = ()
    ) -> Histogram:
        self._claim(name)
        return Histogram(self._registry, name, help_text, buckets, label_names)

    def render(self) -> str:
        """The text exposition: this process's figures, or every worker's in multiprocess mode."""
        if multiprocess():
            from prometheus_client import multiprocess as mp

            combined = CollectorRegistry()
            mp.MultiProcessCollector(combined)
            return generate_latest(combined).decode()
        return generate_latest(self._registry).decode()
