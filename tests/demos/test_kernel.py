"""The kernel service: the demo, the message handling, and a live kernel under abuse."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

import tzmq
from demos import kernel as demo
from demos._procs import ROOT
from demos._result import run_on_new_loop
from demos.kernel.client import KernelClient, read_connection_file
from demos.kernel.service import Kernel, KernelCore
from demos.kernel.wire import DELIMITER, Message, Session

KEY = b"a3c1f0e2b4d6a8c0e2f4a6b8c0d2e4f6"


def test_demo_checks_every_step() -> None:
    result = demo.run_demo(timeout=10)
    assert result.ok, result
    assert result.messages >= 30


# -- KernelCore: frames in, frames out, no sockets ----------------------------------


def _request(
    session: Session, msg_type: str, content: dict[str, Any]
) -> tuple[Message, list[bytes]]:
    msg = session.message(msg_type, content)
    return msg, session.serialize(msg, [b"client-1"])


def _decode(core: KernelCore, out: list[tuple[str, list[bytes]]]) -> list[tuple[str, Message]]:
    reader = Session(core.session.key, replay_memory=0)
    return [(channel, reader.deserialize(frames)[1]) for channel, frames in out]


def test_execute_publishes_in_ipykernel_order_and_replies_to_the_sender() -> None:
    core = KernelCore(Session(KEY))
    request, frames = _request(Session(KEY), "execute_request", {"code": "print(1)\n2 * 3"})
    out = core.handle("shell", frames)
    assert [f[0] for _, f in out if _ == "shell"] == [b"client-1"]
    sent = _decode(core, out)
    assert [(c, m.msg_type) for c, m in sent] == [
        ("iopub", "status"),
        ("iopub", "execute_input"),
        ("iopub", "stream"),
        ("iopub", "execute_result"),
        ("shell", "execute_reply"),
        ("iopub", "status"),
    ]
    assert all(m.parent_id == request.msg_id for _, m in sent)
    assert sent[3][1].content["data"] == {"text/plain": "6"}
    assert sent[4][1].content["status"] == "ok"


def test_silent_execution_counts_nothing_and_publishes_only_status() -> None:
    core = KernelCore(Session(KEY))
    _, frames = _request(Session(KEY), "execute_request", {"code": "x = 1\nx", "silent": True})
    sent = _decode(core, core.handle("shell", frames))
    assert [m.msg_type for _, m in sent] == ["status", "execute_reply", "status"]
    assert core.execution_count == 0 and core.sandbox.names == {"x": 1}


def test_bad_requests_unknown_types_and_shutdown_on_shell() -> None:
    core = KernelCore(Session(KEY))
    client = Session(KEY)
    sent = _decode(core, core.handle("shell", _request(client, "execute_request", {"code": 5})[1]))
    assert sent[1][1].content["ename"] == "BadRequest"
    assert core.handle("shell", _request(client, "comm_open", {})[1]) == []
    assert core.handle("shell", _request(client, "shutdown_request", {})[1]) == []
    assert not core.shutdown_requested
    sent = _decode(core, core.handle("control", _request(client, "shutdown_request", {})[1]))
    assert sent[1][1].content == {"status": "ok", "restart": False}
    assert core.shutdown_requested


def test_a_forged_message_is_logged_and_never_run(caplog: pytest.LogCaptureFixture) -> None:
    core = KernelCore(Session(KEY))
    forger = Session(b"some other key")
    with caplog.at_level(logging.WARNING, "demos.kernel"):
        assert core.handle("shell", _request(forger, "execute_request", {"code": "x = 1"})[1]) == []
    assert core.rejected == 1 and core.sandbox.names == {}
    assert "rejected a message on shell: bad signature" in caplog.text


def test_a_bug_in_a_handler_costs_one_reply_not_the_kernel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    core = KernelCore(Session(KEY))

    def broken(code: str) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(core.sandbox, "run", broken)
    with caplog.at_level(logging.ERROR, "demos.kernel"):
        out = core.handle("shell", _request(Session(KEY), "execute_request", {"code": "1"})[1])
    sent = _decode(core, out)
    assert [m.msg_type for _, m in sent][-2:] == ["execute_reply", "status"]
    assert sent[-2][1].content["ename"] == "InternalError"
    assert "execute_request failed" in caplog.text


frames_strategy = st.lists(
    st.binary(max_size=30) | st.just(DELIMITER) | st.sampled_from([b"{}", b'{"msg_id":"1"}']),
    max_size=9,
)


@settings(max_examples=200)
@given(frames=frames_strategy)
def test_random_frames_are_rejected_without_output(frames: list[bytes]) -> None:
    core = KernelCore(Session(KEY))
    assert core.handle("shell", frames) == []
    assert core.rejected == 1


json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=30)


@settings(max_examples=200)
@given(
    msg_type=st.sampled_from(["execute_request", "kernel_info_request", "shutdown_request"]),
    content=st.dictionaries(st.sampled_from(["code", "silent", "restart", "x"]), json_scalars),
    channel=st.sampled_from(["shell", "control"]),
)
def test_signed_requests_with_random_content_get_exactly_one_reply(
    msg_type: str, content: dict[str, Any], channel: str
) -> None:
    core = KernelCore(Session(KEY))
    sent = _decode(core, core.handle(channel, _request(Session(KEY), msg_type, content)[1]))
    if msg_type == "shutdown_request" and channel == "shell":
        assert sent == []
        return
    replies = [m for c, m in sent if c == channel]
    assert len(replies) == 1 and replies[0].content["status"] in ("ok", "error")
    assert sent[0][1].content == {"execution_state": "busy"}
    assert sent[-1][1].content == {"execution_state": "idle"}


# -- a live kernel and client over TCP ----------------------------------------------


@asynccontextmanager
async def _live(tmp_path: Path) -> AsyncIterator[tuple[Kernel, KernelClient]]:
    kernel_ctx: zmq.Context[Any] = zmq.Context()
    client_ctx = tzmq.Context()
    kernel = Kernel(kernel_ctx, KEY)
    path = kernel.write_connection_file(tmp_path / "kernel.json")
    client = KernelClient.from_connection_file(client_ctx, path)
    try:
        await client.wait_for_ready(5)
        yield kernel, client
    finally:
        await client.close()
        kernel.close()
        client_ctx.term()
        kernel_ctx.term()


@pytest.mark.gen_test(timeout=10)
async def test_garbage_on_every_socket_does_not_stop_the_kernel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _live(tmp_path) as (kernel, client):
        garbage = [[b""], [DELIMITER], [b"\xff" * 100, DELIMITER, b"sig", b"{", b"}", b"", b""]]
        with caplog.at_level(logging.WARNING, "demos.kernel"):
            for frames in garbage:
                await client.send_frames("shell", frames)
                await client.send_frames("control", frames)
            _, iopub = await client.execute("6 * 7")
        assert [m.content["data"] for m in iopub if m.msg_type == "execute_result"] == [
            {"text/plain": "42"}
        ]
        assert kernel.core.rejected == 6
        assert caplog.text.count("rejected a message on") == 6
        assert client.skipped == []  # nothing answered the garbage


@pytest.mark.gen_test(timeout=10)
async def test_forged_then_real_shows_the_forgery_never_ran(tmp_path: Path) -> None:
    async with _live(tmp_path) as (kernel, client):
        forger = Session(b"guessed key")
        await client.send_frames(
            "shell", forger.serialize(forger.message("execute_request", {"code": "x = 1"}))
        )
        reply, _ = await client.execute("x")
        assert reply.content["ename"] == "NameError"
        assert kernel.core.rejected == 1


def test_a_key_that_cannot_be_written_as_text_is_refused(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        Kernel(ctx, "é".encode())


def test_connection_file_is_private_and_checked(tmp_path: Path) -> None:
    async def write() -> Path:
        ctx: zmq.Context[Any] = zmq.Context()
        kernel = Kernel(ctx, KEY)
        try:
            return kernel.write_connection_file(tmp_path / "k.json")
        finally:
            kernel.close()
            ctx.term()

    (tmp_path / "k.json").write_text("{}")
    (tmp_path / "k.json").chmod(0o644)  # an old file, readable by all: the key must not be
    path = run_on_new_loop(write, timeout=5)
    assert path.stat().st_mode & 0o777 == 0o600
    info = read_connection_file(path)
    assert info["key"] == KEY.decode() and info["signature_scheme"] == "hmac-sha256"
    (tmp_path / "bad.json").write_text('{"ip": "127.0.0.1"}')
    with pytest.raises(ValueError, match="lacks control_port"):
        read_connection_file(tmp_path / "bad.json")
    (tmp_path / "md5.json").write_text(path.read_text().replace("hmac-sha256", "hmac-md5"))
    with pytest.raises(ValueError, match="unsupported signature scheme"):
        read_connection_file(tmp_path / "md5.json")


def test_kernel_and_client_roles_as_processes(tmp_path: Path) -> None:
    path = tmp_path / "kernel.json"

    async def run() -> tuple[int | None, str, int | None]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        role = [sys.executable, "-m", "demos.kernel", "--connection-file", str(path)]
        kernel = await asyncio.create_subprocess_exec(
            *role, "--role", "kernel", stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env
        )
        client = None
        try:
            assert kernel.stdout is not None
            await asyncio.wait_for(kernel.stdout.readline(), 10)  # "kernel ready"
            codes = ["--code", "x = 6 * 7", "--code", "print(x)", "--code", "x + 1"]
            client = await asyncio.create_subprocess_exec(
                *role, "--role", "client", *codes, "--shutdown",
                stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(client.communicate(), 10)
            await asyncio.wait_for(kernel.communicate(), 5)  # shutdown_request stops it
            return client.returncode, out.decode(), kernel.returncode
        finally:
            for proc in (kernel, client):
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    client_code, out, kernel_code = run_on_new_loop(run, timeout=30)
    assert out == "42\nOut[3]: 43\n"
    assert (client_code, kernel_code) == (0, 0)
    assert not path.exists()  # the kernel removes its connection file
