"""A kernel client on tzmq's coroutine API, found through a connection file.

`KernelClient` connects shell and control (DEALER), iopub (SUB) and heartbeat
(REQ) to the addresses in a Jupyter-style connection file, signs what it sends
with the file's key and checks what it receives. `KernelClient.request` sends
a request and returns its reply together with every iopub message the kernel
published for it, up to and including ``status: idle``.

A SUB misses what is published before its subscription reaches the PUB, so
`KernelClient.wait_for_ready` asks for ``kernel_info`` until the iopub side of
an answer arrives too, as jupyter_client does.

IOLoop thread only.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import zmq

import tzmq
from demos.kernel.wire import SIGNATURE_SCHEME, Message, Session, WireError
from tzmq import _jsonapi


def read_connection_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check a connection file; `ValueError` if it is not one we can use."""
    info = _jsonapi.loads(Path(path).read_bytes())
    if not isinstance(info, dict):
        raise ValueError(f"{path} is not a JSON object")
    missing = {"ip", "transport", "shell_port", "iopub_port", "control_port", "hb_port", "key"}
    missing -= info.keys()
    if missing:
        raise ValueError(f"{path} lacks {', '.join(sorted(missing))}")
    if info.get("signature_scheme", SIGNATURE_SCHEME) != SIGNATURE_SCHEME:
        raise ValueError(f"unsupported signature scheme {info['signature_scheme']!r}")
    return info


class KernelClient:
    """Requests to a kernel, their replies, and the iopub messages they caused."""

    def __init__(self, ctx: tzmq.Context, info: dict[str, Any]) -> None:
        self.session = Session(str(info["key"]).encode())
        address = f"{info['transport']}://{info['ip']}:"
        self.sockets: dict[str, tzmq.Socket] = {}
        for name, kind in (("shell", zmq.DEALER), ("control", zmq.DEALER), ("iopub", zmq.SUB)):
            self.sockets[name] = ctx.socket(kind)
        hb = self.sockets["hb"] = ctx.socket(zmq.REQ)
        # A ping that times out must not wedge the REQ in its send/recv lockstep.
        hb.setsockopt(zmq.REQ_RELAXED, 1)
        hb.setsockopt(zmq.REQ_CORRELATE, 1)
        for name, sock in self.sockets.items():
            sock.linger = 0
            sock.connect(f"{address}{info[f'{name}_port']}")
        self.sockets["iopub"].setsockopt(zmq.SUBSCRIBE, b"")
        self.skipped: list[Message] = []  # replies that matched no waiting request
        self.rejected = 0  # messages from the kernel that failed the signature check
        self._waiting: dict[str, list[Message]] = {}
        self._idle: dict[str, asyncio.Future[list[Message]]] = {}
        self._reader = asyncio.ensure_future(self._read_iopub())

    @classmethod
    def from_connection_file(cls, ctx: tzmq.Context, path: str | os.PathLike[str]) -> KernelClient:
        return cls(ctx, read_connection_file(path))

    async def request(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> tuple[Message, list[Message]]:
        """Send a request; return (its reply, the iopub messages it caused)."""
        msg = self.session.message(msg_type, content)
        self._waiting[msg.msg_id] = []
        idle = self._idle[msg.msg_id] = asyncio.get_running_loop().create_future()
        try:
            await self.send_frames(channel, self.session.serialize(msg))
            reply = await asyncio.wait_for(self._reply(channel, msg.msg_id), timeout)
            return reply, await asyncio.wait_for(idle, timeout)
        finally:
            self._waiting.pop(msg.msg_id, None)
            self._idle.pop(msg.msg_id, None)

    async def execute(self, code: str, timeout: float = 5.0) -> tuple[Message, list[Message]]:
        """Run ``code``; return (execute_reply, iopub messages)."""
        content = {"code": code, "silent": False, "store_history": True}
        return await self.request("shell", "execute_request", content, timeout)

    async def send_frames(self, channel: str, frames: list[bytes]) -> None:
        """Send raw frames on ``channel`` (the demo uses it to send a forged message)."""
        await self.sockets[channel].send_multipart(frames)

    async def wait_for_ready(self, timeout: float) -> Message:
        """Ask for kernel_info until both its reply and its iopub status arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                reply, _ = await self.request("shell", "kernel_info_request", timeout=0.25)
                return reply
            except TimeoutError:
                if loop.time() > deadline:
                    raise TimeoutError(f"the kernel did not answer within {timeout}s") from None

    async def ping(self, data: bytes, timeout: float = 5.0) -> bytes:
        """One heartbeat: the kernel echoes ``data``."""
        hb = self.sockets["hb"]
        await hb.send(data)
        reply: bytes = await asyncio.wait_for(hb.recv(), timeout)
        return reply

    async def _reply(self, channel: str, msg_id: str) -> Message:
        while True:
            frames = await self.sockets[channel].recv_multipart()
            try:
                _, reply = self.session.deserialize(frames)
            except WireError:
                self.rejected += 1
                continue
            if reply.parent_id == msg_id:
                return reply
            self.skipped.append(reply)  # e.g. the answer to a retry we gave up on

    async def _read_iopub(self) -> None:
        async for frames in self.sockets["iopub"]:  # ends when the socket closes
            try:
                _, msg = self.session.deserialize(frames)
            except WireError:
                self.rejected += 1
                continue
            parent = msg.parent_id
            if parent is None or parent not in self._waiting:
                continue  # output for a request nobody waits for any more
            self._waiting[parent].append(msg)
            idle = self._idle[parent]
            state = msg.content.get("execution_state") if msg.msg_type == "status" else None
            if state == "idle" and not idle.done():
                idle.set_result(self._waiting[parent])

    async def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        await self._reader
