"""The discovery demo: the whole run on loopback and across namespaces, and its parts."""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections.abc import Callable

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

import tzmq
from demos import _netns
from demos import discovery as demo
from tzmq.discovery import Beacon, Broadcast, Multicast, Peers


def _loopback_group() -> Multicast:
    return Multicast(f"239.255.{random.randint(0, 255)}.{random.randint(1, 254)}", "127.0.0.1")


def _namespaces() -> str:
    return subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout


def test_on_loopback_a_worker_expires_and_every_request_is_answered_once() -> None:
    result = demo.run_demo(workers=3, clients=2, requests=10, mode="loopback", timeout=10)
    assert result.ok, result
    assert result.messages == 40
    assert result.detail.startswith("loopback multicast: worker-2's host gone, expired in")
    assert result.detail.endswith("the last 20 by worker-0/worker-1")


def test_across_namespaces_and_they_are_removed_after() -> None:
    why_not = _netns.netns_unavailable()
    if why_not:
        pytest.skip(f"cannot make network namespaces here: {why_not}")
    result = demo.run_demo(workers=2, clients=1, requests=10, mode="netns", timeout=10)
    assert result.ok, result
    assert result.messages == 20
    assert result.detail.startswith("4 network namespaces, broadcast: worker-1's host gone")
    assert "the last 10 by worker-0" in result.detail
    assert "tzmq-demo-" not in _namespaces()


def test_the_namespaces_go_even_when_the_run_fails() -> None:
    why_not = _netns.netns_unavailable()
    if why_not:
        pytest.skip(f"cannot make network namespaces here: {why_not}")
    with pytest.raises(RuntimeError, match="half-way"), _netns.lan(["a", "b"]) as net:
        assert net.namespaces["a"] in _namespaces()
        raise RuntimeError("failed half-way")
    assert net.switch not in _namespaces()
    assert not any(ns in _namespaces() for ns in net.namespaces.values())


def test_without_namespaces_auto_falls_back_and_netns_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_netns, "netns_unavailable", lambda: "not root")
    with _netns.network("auto", ["broker"]) as net:
        assert net.where == "loopback multicast (no namespaces: not root)"
        assert net.target.startswith("multicast:239.255.") and net.target.endswith("@127.0.0.1")
        assert net.namespaces == {}
    refused = pytest.raises(RuntimeError, match="cannot run across network namespaces: not root")
    with refused, _netns.network("netns", ["broker"]):
        pass


def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="2 workers"):
        demo.run_demo(workers=1)
    with pytest.raises(ValueError, match="mode"):
        demo.run_demo(mode="cloud")
    with pytest.raises(ValueError, match="target must be"):
        demo.parse_target("unicast:127.0.0.1")
    with pytest.raises(ValueError, match="not a multicast group"):
        demo.parse_target("multicast:127.0.0.1")
    assert demo.parse_target("broadcast:10.1.2.255") == Broadcast("10.1.2.255")
    assert demo.parse_target(demo.DEFAULT_TARGET) == Multicast("239.255.86.1", "127.0.0.1")


def test_an_announcement_round_trips_and_nonsense_is_refused() -> None:
    announced = demo.Announcement("10.0.0.1", 5555, 65535)
    assert demo.Announcement.parse("10.0.0.1", announced.encode()) == announced
    assert announced.frontend == "tcp://10.0.0.1:5555"
    assert announced.backend == "tcp://10.0.0.1:65535"
    for bad in (b"BROKER 0 1", b"BROKER 1 65536", b"BROKER 1", b"BROKER 1 2 3", b"OTHER 1 2"):
        with pytest.raises(ValueError, match="not a broker announcement"):
            demo.Announcement.parse("10.0.0.1", bad)


@given(st.binary(max_size=40))
def test_any_payload_parses_or_is_a_value_error(payload: bytes) -> None:
    try:
        announced = demo.Announcement.parse("127.0.0.1", payload)
    except ValueError:
        return
    assert announced.encode() == payload


@pytest.mark.gen_test(timeout=10)
async def test_find_broker_skips_nonsense_and_times_out_alone(io_loop: IOLoop) -> None:
    port, target = _netns.free_udp_port(), _loopback_group()
    with Beacon(port, target) as broker, Beacon(port, target) as other, Beacon(port, target) as me:
        with pytest.raises(TimeoutError, match=r"no broker announced itself within 0\.2 s"):
            await demo.find_broker(me, 0.2)
        other.publish(b"BROKER nonsense", 0.02)
        broker.publish(demo.Announcement("127.0.0.1", 5555, 5556).encode(), 0.02)
        found = await demo.find_broker(me, 5)
    assert found == demo.Announcement(broker.address, 5555, 5556)


@pytest.mark.gen_test(timeout=15)
async def test_a_worker_serves_and_leaves_once_the_broker_is_silent(io_loop: IOLoop) -> None:
    port, target = _netns.free_udp_port(), _loopback_group()
    ctx = tzmq.Context()
    backend = ctx.socket(zmq.DEALER)
    try:
        with Beacon(port, target) as announcer, Beacon(port, target) as listener:
            events: list[str] = []
            peers = Peers(listener, evasive=demo.EVASIVE, expired=demo.EXPIRED)
            peers.on_event(lambda event: events.append(event.kind))
            here = backend.bind_to_random_port("tcp://127.0.0.1")
            announcer.publish(demo.Announcement("127.0.0.1", 1, here).encode(), 0.05)
            worker = asyncio.ensure_future(demo.serve_worker(target, port, "w1", timeout=5))
            await backend.send_multipart([b"client", b"r1", b"12"])
            reply = await asyncio.wait_for(backend.recv_multipart(), 5)
            assert reply == [b"client", b"r1", b"w1", b"144"]
            await asyncio.wait_for(_until(lambda: bool(peers.peers)), 5)
            assert await demo.greet(ctx, next(iter(peers.peers.values())), 5) == "w1"
            announcer.silence()
            assert await asyncio.wait_for(worker, demo.EXPIRED + 5) == 1
            await asyncio.wait_for(_until(lambda: "left" in events), 5)
            # Its farewell, not an expiry (evasive is allowed: the machine may be busy).
            assert events[0] == "appeared" and events[-1] == "left" and "expired" not in events
            peers.close()
    finally:
        backend.close(linger=0)
        ctx.term()


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        demo.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m demos.discovery")
    assert "--role {demo,broker,worker,client}" in out
