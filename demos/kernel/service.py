"""The kernel: message handling with no I/O (`KernelCore`) and its sockets (`Kernel`).

`KernelCore.handle` takes the frames that arrived on a channel and returns the
frames to send, per channel: replies to the sender on shell or control, and
status / execute_input / stream / execute_result / error on iopub, in the
order ipykernel uses (busy, ..., reply, idle). Frames that are not a valid,
correctly signed message are logged on ``demos.kernel`` and dropped: no reply,
nothing executed.

`Kernel` binds the four sockets on 127.0.0.1, random ports: shell and control
(ROUTER), iopub (PUB) and heartbeat (REP, echoing every ping). It runs as
callbacks on `tzmq.ZMQStream` and writes a connection file (mode 0600: it
holds the key) that clients use to find it.

IOLoop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

import tzmq
from demos.kernel.sandbox import Sandbox
from demos.kernel.wire import PROTOCOL_VERSION, SIGNATURE_SCHEME, Message, Session, WireError
from tzmq import _jsonapi

log = logging.getLogger("demos.kernel")

Outgoing = list[tuple[str, list[bytes]]]  # (channel, frames)

KERNEL_INFO = {
    "status": "ok",
    "protocol_version": PROTOCOL_VERSION,
    "implementation": "tzmq-arithmetic",
    "implementation_version": "1.0",
    "language_info": {
        "name": "arithmetic",
        "version": "1.0",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    },
    "banner": "tzmq demo kernel: arithmetic on numbers, names and print()",
    "help_links": [],
}


@dataclass
class _Turn:
    """One request being handled: where replies go, and everything to send so far."""

    session: Session
    kernel_id: str
    channel: str
    identities: list[bytes]
    request: Message
    out: Outgoing = field(default_factory=list)

    def reply(self, content: dict[str, Any]) -> None:
        """The reply to the request, to its sender on the channel it came from."""
        reply_type = self.request.msg_type.replace("_request", "_reply")
        reply = self.session.message(reply_type, content, self.request)
        self.out.append((self.channel, self.session.serialize(reply, self.identities)))

    def publish(self, msg_type: str, content: dict[str, Any]) -> None:
        """A message on iopub, with the request as its parent."""
        topic = f"kernel.{self.kernel_id}.{msg_type}".encode()
        msg = self.session.message(msg_type, content, self.request)
        self.out.append(("iopub", self.session.serialize(msg, [topic])))


class KernelCore:
    """What the kernel does with each message, without sockets."""

    def __init__(self, session: Session, kernel_id: str = "demo") -> None:
        self.session = session
        self.kernel_id = kernel_id
        self.sandbox = Sandbox()
        self.execution_count = 0
        self.rejected = 0
        self.shutdown_requested = False
        self._handlers: dict[str, Callable[[_Turn], None]] = {
            "kernel_info_request": self._kernel_info,
            "execute_request": self._execute,
            "shutdown_request": self._shutdown,
        }

    def handle(self, channel: str, frames: list[bytes]) -> Outgoing:
        """Handle frames from ``channel`` ("shell" or "control"); return what to send."""
        try:
            identities, msg = self.session.deserialize(frames)
        except WireError as error:
            self.rejected += 1
            log.warning("rejected a message on %s: %s", channel, error)
            return []
        handler = self._handlers.get(msg.msg_type)
        if handler is None or (msg.msg_type == "shutdown_request" and channel != "control"):
            log.warning("ignored %s on %s: not handled there", msg.msg_type, channel)
            return []
        turn = _Turn(self.session, self.kernel_id, channel, identities, msg)
        turn.publish("status", {"execution_state": "busy"})
        try:
            handler(turn)
        except Exception:  # a bug must cost one request, not the kernel
            log.exception("%s failed", msg.msg_type)
            turn.reply(_error("InternalError", f"{msg.msg_type} failed", None))
        turn.publish("status", {"execution_state": "idle"})
        return turn.out

    def _kernel_info(self, turn: _Turn) -> None:
        turn.reply(KERNEL_INFO)

    def _shutdown(self, turn: _Turn) -> None:
        self.shutdown_requested = True
        turn.reply({"status": "ok", "restart": bool(turn.request.content.get("restart"))})

    def _execute(self, turn: _Turn) -> None:
        code = turn.request.content.get("code")
        silent = turn.request.content.get("silent", False)
        if not isinstance(code, str) or not isinstance(silent, bool):
            turn.reply(_error("BadRequest", "code must be a string, silent a bool", None))
            return
        if not silent:  # silent runs leave no trace: no count, no output
            self.execution_count += 1
            turn.publish("execute_input", {"code": code, "execution_count": self.execution_count})
        outcome = self.sandbox.run(code)
        count = self.execution_count
        if outcome.error:
            reply = _error(*outcome.error, count)
            if not silent:
                turn.publish("error", {k: reply[k] for k in ("ename", "evalue", "traceback")})
            turn.reply(reply)
            return
        if not silent:
            for text in outcome.printed:
                turn.publish("stream", {"name": "stdout", "text": text})
            if outcome.value is not None:
                data = {"text/plain": repr(outcome.value)}
                turn.publish(
                    "execute_result", {"execution_count": count, "data": data, "metadata": {}}
                )
        turn.reply(
            {"status": "ok", "execution_count": count, "user_expressions": {}, "payload": []}
        )


def _error(ename: str, evalue: str, count: int | None) -> dict[str, Any]:
    return {
        "status": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [f"{ename}: {evalue}"],
        "execution_count": count,
    }


class Kernel:
    """`KernelCore` on four sockets bound to random ports of ``ip``.

    ``key`` is the signing key as ASCII bytes (it goes in the connection file
    as text). ``stopped`` resolves when a client asks for shutdown on the
    control channel.
    """

    def __init__(self, ctx: zmq.Context[Any], key: bytes, ip: str = "127.0.0.1") -> None:
        if not isinstance(key, bytes) or not key.isascii():
            raise ValueError("the key must be ASCII bytes, e.g. os.urandom(32).hex().encode()")
        self.ip = ip
        self.core = KernelCore(Session(key))
        self.streams: dict[str, tzmq.ZMQStream] = {}
        self.ports: dict[str, int] = {}
        for name, kind in (
            ("shell", zmq.ROUTER), ("control", zmq.ROUTER), ("iopub", zmq.PUB), ("hb", zmq.REP)
        ):  # fmt: skip
            stream = tzmq.ZMQStream(ctx.socket(kind))
            self.ports[name] = stream.bind_to_random_port(f"tcp://{ip}")
            self.streams[name] = stream
        self.streams["shell"].on_recv(lambda frames: self._on_request("shell", frames))
        self.streams["control"].on_recv(lambda frames: self._on_request("control", frames))
        self.streams["hb"].on_recv(self.streams["hb"].send_multipart)
        self.stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _on_request(self, channel: str, frames: list[bytes]) -> None:
        for target, out in self.core.handle(channel, frames):
            self.streams[target].send_multipart(out)
        if self.core.shutdown_requested and not self.stopped.done():
            self.stopped.set_result(None)

    def connection_info(self) -> dict[str, Any]:
        """What a client needs: transport, ip, ports, key and signature scheme."""
        return {
            "transport": "tcp",
            "ip": self.ip,
            "shell_port": self.ports["shell"],
            "iopub_port": self.ports["iopub"],
            "control_port": self.ports["control"],
            "hb_port": self.ports["hb"],
            "key": self.core.session.key.decode("ascii"),
            "signature_scheme": SIGNATURE_SCHEME,
            "kernel_name": "tzmq-arithmetic",
        }

    def write_connection_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the connection file, readable by its owner only (it holds the key)."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # the mode above applies to a new file only
        with os.fdopen(fd, "wb") as f:
            f.write(_jsonapi.dumps(self.connection_info(), indent=2))
        return path

    def close(self) -> None:
        """Close the sockets; the last replies get half a second to leave."""
        for stream in self.streams.values():
            stream.close(linger=500)
