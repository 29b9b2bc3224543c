"""A real jupyter_server in a child process, and a websocket client that floods it with output.

Owns starting a server on 127.0.0.1 (plain, or through ``python -m
tzmq.compat run`` with its kernel run the same way), with its own Jupyter
directories, a kernelspec of our own and IOPub rate limits off (they would
drop the flood), then stopping it and its kernel. `Server.flood` times one
cell printing ``lines`` lines, from the execute request until the websocket
client has every line.

Thread-safety: `serve` and `Server` run on the thread of one asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

__all__ = ["Server", "serve"]

_START = 60.0
"""Seconds a server may take to answer, and a kernel to start."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(root: Path, on_tzmq: bool) -> dict[str, str]:
    """Jupyter directories under ``root``, holding the one kernelspec "bench"."""
    wrap = ["-m", "tzmq.compat", "run"] if on_tzmq else []
    spec = root / "share" / "jupyter" / "kernels" / "bench"
    spec.mkdir(parents=True)
    argv = [sys.executable, *wrap, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "bench", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return {
        **os.environ,
        "JUPYTER_PATH": str(root / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }


def _execute(code: str) -> tuple[str, str]:
    """An execute_request for the websocket, and its msg_id."""
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": "execute_request",
        "username": "bench",
        "session": uuid.uuid4().hex,
        "version": "5.3",
        "date": "",
    }
    content = {
        "code": code,
        "silent": False,
        "store_history": False,
        "user_expressions": {},
        "allow_stdin": False,
    }
    msg = {
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }
    return json.dumps(msg), msg_id


class Server:
    """A running server with one kernel and one websocket to it."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self._base = base
        self._headers = headers
        self._http = AsyncHTTPClient(force_instance=True)
        self._kernel = ""
        self._ws: WebSocketClientConnection | None = None

    async def _fetch(self, path: str, method: str = "GET", body: str | None = None) -> Any:
        response = await self._http.fetch(
            self._base + path,
            method=method,
            body=body,
            headers=self._headers,
            request_timeout=_START,
        )
        return json.loads(response.body) if response.body else None

    async def wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + _START
        while True:
            try:
                await self._fetch("/api/status")
                return
            except (ConnectionError, HTTPClientError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter_server did not start") from None
                await asyncio.sleep(0.2)

    async def open(self) -> None:
        """Start the kernel and connect the websocket; one small cell warms both up."""
        self._kernel = (await self._fetch("/api/kernels", "POST", '{"name": "bench"}'))["id"]
        url = self._base.replace("http", "ws", 1) + f"/api/kernels/{self._kernel}/channels"
        self._ws = await websocket_connect(HTTPRequest(url, headers=self._headers))
        await self.flood(1, _START)

    async def flood(self, lines: int, timeout: float) -> float:
        """Seconds from sending a cell that prints ``lines`` lines to having them all."""
        ws = self._ws
        if ws is None:
            raise RuntimeError("open() the server first")
        request, msg_id = _execute(f"for i in range({lines}):\n    print(i)")
        started = time.perf_counter()
        ws.write_message(request)
        got, elapsed, status = 0, 0.0, None
        while status is None or got < lines:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                raise RuntimeError("the websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                got += msg["content"]["text"].count("\n")
                if got >= lines and not elapsed:
                    elapsed = time.perf_counter() - started
            elif msg["msg_type"] == "execute_reply":
                status = msg["content"]["status"]
        if status != "ok" or got != lines:
            raise RuntimeError(f"the cell ended {status} with {got} of {lines} lines")
        return elapsed

    async def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._kernel:
            with contextlib.suppress(Exception):
                await self._fetch(f"/api/kernels/{self._kernel}", "DELETE")
        self._http.close()


@contextlib.asynccontextmanager
async def serve(root: Path, on_tzmq: bool) -> AsyncIterator[Server]:
    """A jupyter_server under ``root`` with its kernel open, stopped on exit."""
    port, token = _free_port(), uuid.uuid4().hex
    wrap = ["-m", "tzmq.compat", "run"] if on_tzmq else []
    command = [
        sys.executable,
        *wrap,
        "-m",
        "jupyter_server",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--ZMQChannelsWebsocketConnection.limit_rate=False",
    ]
    env = _environment(root, on_tzmq)
    with open(root / "server.log", "wb") as log:
        # Its own session, so that a kill at the end takes its kernel along.
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"})
    try:
        await server.wait_ready(process)
        await server.open()
        yield server
    finally:
        await server.close()
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.get_running_loop().run_in_executor(None, process.wait, 10.0)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
