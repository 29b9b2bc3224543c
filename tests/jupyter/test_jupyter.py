"""Jupyter on tzmq: a real ipykernel, jupyter_client and jupyter_server, unchanged.

The kernel runs in a subprocess started through ``python -m tzmq.compat run``;
this process calls ``tzmq.compat.install()`` before importing Jupyter (see
conftest.py), so jupyter_client and jupyter_server build tzmq's streams.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

import tzmq
from tzmq import compat

pytest.importorskip("ipykernel", reason="Jupyter tests need the .[jupyter] extra")
from jupyter_client.manager import KernelManager
from jupyter_client.threaded import ThreadedKernelClient

TIMEOUT = 30
KERNEL_TYPES = (
    "import ipykernel.kernelapp as k; kernel = k.IPKernelApp.instance().kernel; "
    "print(sorted({type(s).__module__ for s in (kernel.shell_stream, kernel.control_stream)}))"
)


def _kernelspec(root: Path) -> Path:
    spec = root / "share" / "jupyter" / "kernels" / "tzmq"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "tzmq.compat", "run", "-m", "ipykernel_launcher"]
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [*argv, "-f", "{connection_file}"],
                "display_name": "Python on tzmq",
                "language": "python",
            }
        )
    )
    return root / "share" / "jupyter"


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("jupyter")
    saved = dict(os.environ)
    os.environ.update(
        JUPYTER_PATH=str(_kernelspec(root)),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    yield root
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def kernel(jupyter_env: Path) -> Iterator[KernelManager]:
    manager = KernelManager(kernel_name="tzmq", transport="tcp", ip="127.0.0.1")
    manager.start_kernel()
    try:
        yield manager
    finally:
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


def _stdout_of(client: Any, msg_id: str) -> str:
    text = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(text)


def test_kernel_runs_code_on_tzmq_streams(kernel: KernelManager) -> None:
    client = kernel.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        msg_id = client.execute(KERNEL_TYPES + "; print(6 * 7)")
        reply = client.get_shell_msg(timeout=TIMEOUT)
        # A slow kernel start makes wait_for_ready ask kernel_info twice: the
        # second reply may come first here.
        while reply["msg_type"] == "kernel_info_reply":
            reply = client.get_shell_msg(timeout=TIMEOUT)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok"
        assert _stdout_of(client, msg_id) == "['tzmq.stream.zmqstream']\n42\n"
    finally:
        client.stop_channels()


def test_pipelined_burst_of_executes(kernel: KernelManager) -> None:
    client = kernel.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        ids = [client.execute(f"{i} * 2", silent=False) for i in range(100)]
        replies: list[dict[str, Any]] = []
        while len(replies) < len(ids):
            reply = client.get_shell_msg(timeout=TIMEOUT)
            if reply["msg_type"] != "kernel_info_reply":  # see the test above
                replies.append(reply)
        assert [r["parent_header"]["msg_id"] for r in replies] == ids
        assert all(r["content"]["status"] == "ok" for r in replies)
    finally:
        client.stop_channels()


def test_threaded_client_uses_tzmq_streams(kernel: KernelManager) -> None:
    """The ThreadedKernelClient behind qtconsole: streams on a loop in another thread."""
    client = ThreadedKernelClient()
    client.load_connection_info(kernel.get_connection_info())
    replies: queue.Queue[dict[str, Any]] = queue.Queue()
    client.start_channels()
    try:
        client.shell_channel.call_handlers = replies.put
        assert isinstance(client.shell_channel.stream, tzmq.ZMQStream)
        msg_id = client.execute("1 + 1")
        reply = replies.get(timeout=TIMEOUT)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = replies.get(timeout=TIMEOUT)
        assert reply["content"]["status"] == "ok"
        client.shell_channel.flush(timeout=5)
    finally:
        client.stop_channels()


def test_interrupt_and_shutdown(jupyter_env: Path) -> None:
    manager = KernelManager(kernel_name="tzmq", transport="tcp", ip="127.0.0.1")
    manager.start_kernel()
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        msg_id = client.execute("import time; print('sleeping', flush=True); time.sleep(60)")
        # Interrupt only once the code is surely running (it has printed).
        while True:
            msg = client.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        deadline = time.monotonic() + TIMEOUT
        reply = None
        while reply is None and time.monotonic() < deadline:
            manager.interrupt_kernel()
            try:
                candidate = client.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            if candidate["parent_header"].get("msg_id") == msg_id:
                reply = candidate
        assert reply is not None, "the kernel did not answer after being interrupted"
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        manager.shutdown_kernel(now=False)
        assert not manager.is_alive()
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_jupyter_server_kernel_websocket(jupyter_env: Path) -> None:
    from jupyter_server.serverapp import ServerApp

    loop = IOLoop(make_current=False)
    port, token = _free_port(), uuid.uuid4().hex
    headers = {"Authorization": f"token {token}"}
    base = f"http://127.0.0.1:{port}"

    async def run() -> tuple[str, set[str], set[str]]:
        app = ServerApp()
        app.initialize(
            argv=[
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                "--no-browser",
                f"--ServerApp.root_dir={jupyter_env}",
                "--allow-root",
            ],
            new_httpserver=True,
        )
        app.start_app()
        http = AsyncHTTPClient()
        try:
            created = await http.fetch(
                f"{base}/api/kernels", method="POST", body='{"name": "tzmq"}', headers=headers
            )
            kernel_id = json.loads(created.body)["id"]
            ws = await websocket_connect(
                HTTPRequest(
                    f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels", headers=headers
                )
            )
            msg_id = uuid.uuid4().hex
            ws.write_message(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "msg_type": "execute_request",
                            "username": "test",
                            "session": uuid.uuid4().hex,
                            "version": "5.3",
                            "date": "",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {
                            "code": KERNEL_TYPES,
                            "silent": False,
                            "store_history": False,
                            "user_expressions": {},
                            "allow_stdin": False,
                        },
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            output, status = "", None
            while status is None or not output:
                raw = await asyncio.wait_for(ws.read_message(), TIMEOUT)
                assert isinstance(raw, str)
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    output += msg["content"]["text"]
                if msg["msg_type"] == "execute_reply":
                    status = msg["content"]["status"]
            assert status == "ok"
            import gc

            server_streams = {
                type(o).__module__ for o in gc.get_objects() if type(o).__name__ == "ZMQStream"
            }
            ws.close()
            await http.fetch(f"{base}/api/kernels/{kernel_id}", method="DELETE", headers=headers)
            return output, server_streams, set(app.kernel_manager.list_kernel_ids())
        finally:
            http.close()
            await app._cleanup()
            app.http_server.stop()

    try:
        output, server_streams, left = loop.run_sync(run, timeout=TIMEOUT * 2)
    finally:
        loop.close(all_fds=True)
    assert output == "['tzmq.stream.zmqstream']\n"
    assert server_streams == {"tzmq.stream.zmqstream"}
    assert left == set()


def test_compat_is_installed_for_this_module() -> None:
    assert compat.installed()
