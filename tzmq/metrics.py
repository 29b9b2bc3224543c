"""Prometheus metrics for every live ZMQStream and future Socket (``pip install tzmq[metrics]``).

Owns `StreamCollector`, a Prometheus collector that turns
`tzmq.stream.stats_snapshot` into metric families at each scrape, one
sample per stream or socket, labelled ``kind`` (``ZMQStream`` or
``Socket``), ``socket_type`` (``ROUTER``, ...) and ``serial`` (see
`tzmq.stream.SocketStats`):

=================================  =======  ========================================
metric                             type     figure
=================================  =======  ========================================
``tzmq_received_messages_total``   counter  ``messages_in`` (*)
``tzmq_received_bytes_total``      counter  ``bytes_in`` (*)
``tzmq_sent_messages_total``       counter  ``messages_out`` (*)
``tzmq_sent_bytes_total``          counter  ``bytes_out`` (*)
``tzmq_send_queue_messages``       gauge    ``queued``
``tzmq_send_queue_peak_messages``  gauge    ``queued_peak``
``tzmq_waited_sends_total``        counter  ``sends_waited``
``tzmq_callback_errors_total``     counter  ``callback_errors``
``tzmq_batches_total``             counter  ``batches``
=================================  =======  ========================================

(*) only for streams and sockets that count traffic: call
`tzmq.stream.count_traffic` at start-up.

``prometheus_client`` is imported when a scrape first needs it, so
importing this module (or tzmq) never requires it. Example::

    from prometheus_client import REGISTRY, start_http_server
    import tzmq.stream
    from tzmq.metrics import StreamCollector

    tzmq.stream.count_traffic()
    REGISTRY.register(StreamCollector())
    start_http_server(9100, addr="127.0.0.1")

Thread-safety: ``collect`` may run on any thread (prometheus_client's HTTP
server scrapes from its own); the figures are then slightly stale, as
`tzmq.stream.SocketStats` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .stream.stats import SocketStats, stats_snapshot

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = ["StreamCollector"]

_LABELS = ("kind", "socket_type", "serial")

# (name, help, figure, per message): counters are named without "_total",
# which prometheus_client adds.
_COUNTERS = (
    ("tzmq_received_messages", "Messages received", "messages_in", True),
    ("tzmq_received_bytes", "Payload bytes received", "bytes_in", True),
    ("tzmq_sent_messages", "Messages handed to libzmq", "messages_out", True),
    ("tzmq_sent_bytes", "Payload bytes handed to libzmq", "bytes_out", True),
    (
        "tzmq_waited_sends",
        "Sends queued rather than taken by libzmq at once",
        "sends_waited",
        False,
    ),
    ("tzmq_callback_errors", "Callbacks (or decoding steps) that raised", "callback_errors", False),
    ("tzmq_batches", "Wake-ups that received or sent something", "batches", False),
)
_GAUGES = (
    ("tzmq_send_queue_messages", "Sends waiting in tzmq's send queue", "queued"),
    ("tzmq_send_queue_peak_messages", "The most sends that waited at once", "queued_peak"),
)


def _labels(stats: SocketStats) -> list[str]:
    return [stats.kind, stats.socket_type, str(stats.serial)]


class StreamCollector:
    """Collects the figures of every live tzmq stream and socket at each scrape.

    Register it once with a ``prometheus_client`` registry:
    ``REGISTRY.register(StreamCollector())``.
    """

    def collect(self) -> Iterator[Metric]:
        try:
            from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        except ImportError as error:
            raise ImportError(
                "tzmq.metrics needs prometheus_client: pip install 'tzmq[metrics]'"
            ) from error
        snapshot = stats_snapshot()
        for name, text, figure, per_message in _COUNTERS:
            counter = CounterMetricFamily(name, text, labels=_LABELS)
            for stats in snapshot:
                if stats.traffic or not per_message:
                    counter.add_metric(_labels(stats), getattr(stats, figure))
            yield counter
        for name, text, figure in _GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=_LABELS)
            for stats in snapshot:
                gauge.add_metric(_labels(stats), getattr(stats, figure))
            yield gauge
