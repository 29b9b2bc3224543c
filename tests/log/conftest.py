"""Fixtures the log tests share: a bound XPUB, and a subscribed PUB/SUB pair."""

from __future__ import annotations

from typing import Any

import pytest
import zmq

from tests.log.helpers import subscribed_pair


@pytest.fixture
def xpub(ctx: zmq.Context[Any]) -> zmq.Socket[Any]:
    """An XPUB bound on 127.0.0.1 (a random port), linger 0."""
    sock = ctx.socket(zmq.XPUB)
    sock.linger = 0
    sock.bind("tcp://127.0.0.1:*")
    return sock


@pytest.fixture
def pair(ctx: zmq.Context[Any]) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """``subscribed_pair(ctx)``: an XPUB and a SUB subscribed to everything."""
    return subscribed_pair(ctx)
