"""Fixtures for auth tests: a started authenticator, servers, keys, the decision log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.auth.helpers import DecisionLog, Keys, Server, Setup, decision_log, no_setup
from tzmq.auth import IOLoopAuthenticator


@pytest.fixture
def log() -> Iterator[DecisionLog]:
    with decision_log() as handler:
        yield handler


@pytest.fixture
def make_server(ctx: zmq.Context[Any], io_loop: IOLoop) -> Iterator[Callable[[Setup], Server]]:
    servers: list[Server] = []

    def make(setup: Setup = no_setup) -> Server:
        server = Server(ctx, io_loop, setup)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def auth(ctx: zmq.Context[Any], io_loop: IOLoop) -> Iterator[IOLoopAuthenticator]:
    # No io_loop argument: start() takes the current loop, the test's.
    authenticator = IOLoopAuthenticator(ctx)
    authenticator.start()
    yield authenticator
    authenticator.stop()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)
