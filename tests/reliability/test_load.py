"""Load: every message through PUSH/PULL and DEALER/ROUTER, on ZMQStream and on future
sockets, arrives exactly once, whole and in order.

100,000 messages in ``make test`` (25,000 per combination), 1,000,000 in
``make soak`` (250,000 each), where the process's RSS is sampled as they flow
and must stay flat after warm-up. Frames run from 0 B to 1 MiB, 1 to 10 a
message, mostly small (see `traffic`); DEALER/ROUTER traffic is echoed, so
those messages are checked twice, at the server and back at the client.
"""

from __future__ import annotations

import pytest
from tornado.ioloop import IOLoop

from .conftest import Complaints
from .figures import FIGURES, SOAK, scaled
from .load import KINDS, rss_bytes, run_load
from .traffic import BIG_EVERY, MiB

COUNT = scaled(25_000, 250_000)
WARM_UP = 0.2
"""Share of a soak run after which RSS must stay flat."""
RSS_GROWTH_BOUND = 16 * MiB
"""Allowed RSS growth after warm-up: ~70 B a message over a soak run; a leak of a
message's frames (2.4 frames, ~5 KiB on average) would pass it within 4,000 messages."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.gen_test(timeout=scaled(60, 600))
async def test_every_message_once_in_order(
    io_loop: IOLoop, kind: str, complaints: Complaints
) -> None:
    result = await run_load(kind, COUNT, seed=KINDS.index(kind), sample_every=COUNT // 50)
    assert result.sent == result.delivered == COUNT
    if "dealer-router" in kind:
        assert result.echoed == COUNT
    # The mix really had the edges in it.
    assert result.big_frames >= COUNT // BIG_EVERY
    assert result.empty_frames > 0
    if kind == "stream-push-pull":
        assert result.drain_waits > 0, "the producer never met back-pressure"
    complaints.assert_clean()
    crossings = 2 if "dealer-router" in kind else 1
    FIGURES.messages(f"load {kind}", COUNT * crossings, result.delivered + result.echoed)
    samples = [rss for _, rss in result.rss]
    warm = samples[int(len(samples) * WARM_UP)]
    peak = max(samples[int(len(samples) * WARM_UP) :])
    FIGURES.note(
        f"load {kind}: {COUNT:,} messages, {result.nbytes / MiB:,.0f} MiB, "
        f"{result.rate():,.0f} msg/s; RSS after warm-up {warm / MiB:.1f} MiB, "
        f"peak after {peak / MiB:.1f} MiB, at end {rss_bytes() / MiB:.1f} MiB"
    )
    if SOAK:
        assert peak - warm <= RSS_GROWTH_BOUND, [s // MiB for s in samples]
