"""The figures an operator watches on GET /metrics, kept with prometheus-client.

Each `Metrics` owns its own CollectorRegistry (never the library's global one), so every
app and every test counts on its own and two of them never clash over a metric name.

What is counted, and who calls what:
- `observe(channel, outcome, seconds)`: every inbound message, once handled (the adapters,
  through bot/delivery.py) — `chorus_inbound_messages_total{channel,outcome}`, the
  handling-latency histogram `chorus_inbound_handling_seconds{channel}` and the running
  total `chorus_inbound_seconds_total{channel}`;
- `batch_applied(size)`: the writer, once per committed batch of messages —
  `chorus_writer_batch_size`;
- `queue_depth(n)`: the writer, whenever its queue changes — `chorus_writer_queue_depth`;
- `store_error(kind)`: whoever meets a store that refused or failed a commit —
  `chorus_store_errors_total{kind}`;
- and the process's own CPU seconds, resident memory and open files (`process_*`).
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

# From a message answered within a millisecond to one that waited past Twilio's 15 s.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, RSS, open fds
        self._inbound = Counter(
            "chorus_inbound_messages",
            "Inbound messages by channel and outcome.",
            ("channel", "outcome"),
            registry=self.registry,
        )
        self._seconds = Counter(
            "chorus_inbound_seconds",
            "Time spent handling inbound messages.",
            ("channel",),
            registry=self.registry,
        )
        self._latency = Histogram(
            "chorus_inbound_handling_seconds",
            "Time from an inbound message's arrival to its answer, by channel.",
            ("channel",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "chorus_writer_batch_size",
            "Messages applied in one committed batch.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._queue = Gauge(
            "chorus_writer_queue_depth",
            "Messages waiting for the writer.",
            registry=self.registry,
        )
        self._store_errors = Counter(
            "chorus_store_errors",
            "Store operations that failed (unavailable, conflicts given up, failed commits).",
            ("kind",),
            registry=self.registry,
        )

    def observe(self, channel: str, outcome: str, seconds: float) -> None:
        """One inbound message handled: its channel, outcome and handling time."""
        self._inbound.labels(channel, outcome).inc()
        self._seconds.labels(channel).inc(max(seconds, 0.0))
        self._latency.labels(channel).observe(max(seconds, 0.0))
        if outcome == "store_unavailable":
            self.store_error("unavailable")

    def batch_applied(self, size: int) -> None:
        """The writer committed a batch of `size` messages."""
        self._batch.observe(size)

    def queue_depth(self, waiting: int) -> None:
        """Messages now waiting for the writer."""
        self._queue.set(waiting)

    def store_error(self, kind: str) -> None:
        """The store failed: "unavailable", "commit", "conflict", ..."""
        self._store_errors.labels(kind).inc()

    @property
    def messages(self) -> Tally[tuple[str, str]]:
        """Inbound messages so far by (channel, outcome), read back from the registry."""
        counts: Tally[tuple[str, str]] = Tally()
        for metric in self._inbound.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["channel"], sample.labels["outcome"])
                    counts[key] = int(sample.value)
        return counts

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)
