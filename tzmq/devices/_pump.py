"""One direction of a proxy: read a source stream, write a target stream.

Owns forwarding with back-pressure. Messages are read by the source stream's
batched receive loop and forwarded inline, from its ``on_recv`` callback. A
send that libzmq refuses with ``EAGAIN`` (the target at its high-water mark)
leaves the message in the target stream's send queue; the pump then stops
reading the source (``on_recv(None)``: further messages wait in libzmq, whose
own high-water mark pushes back on the peers) until ``drain()`` says the
queue is empty, and resumes. So the pump never holds more than one message
per direction, never blocks the loop, and loses nothing that a socket type
would let it keep. The optional capture stream gets a copy of every message
and holds the pump back the same way.

Thread-safety: IOLoop thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq
from tornado.concurrent import Future

from ..stream import StreamClosedError, ZMQStream
from ._stats import Counters

__all__ = ["Pump"]

_log = logging.getLogger("tzmq.devices")


class Pump:
    """Forward ``source`` to ``target`` (and a copy to ``capture``), pausing under back-pressure."""

    def __init__(
        self,
        source: ZMQStream,
        target: ZMQStream,
        capture: ZMQStream | None,
        prefix: bytes | None,
        swap_ids: bool,
        on_socket_gone: Callable[[], Any],
    ) -> None:
        self.source = source
        self.target = target
        self.capture = capture
        self.received = Counters()
        self.sent = Counters()
        self.captured = 0
        self.dropped = 0
        self.paused = False
        self._prefix = prefix
        self._swap_ids = swap_ids
        self._on_socket_gone = on_socket_gone
        # The one message in the target's queue, as (frames, bytes), if any.
        self._queued: tuple[int, int] | None = None
        self._blocked = False
        self._stopped = False

    # -- reading on and off --------------------------------------------------------

    def start(self) -> None:
        self._read(True)

    def pause(self) -> None:
        self.paused = True
        self._read(False)

    def resume(self) -> None:
        self.paused = False
        self._read(True)

    def _read(self, wanted: bool) -> None:
        on = wanted and not (self.paused or self._blocked or self._stopped)
        self.source.on_recv(self.forward if on else None)

    # -- forwarding ---------------------------------------------------------------

    def forward(self, msg: list[bytes]) -> None:
        """The source's receive callback: one message, as received."""
        nbytes = 0
        for frame in msg:
            nbytes += len(frame)
        frames = len(msg)
        self.received.add(frames, nbytes)
        if self._swap_ids and frames > 1:
            # ROUTER to ROUTER: the sender's id goes second, the addressee's first.
            msg[0], msg[1] = msg[1], msg[0]
        target = self.target
        taken = self._offer(target, msg)
        if taken is None:
            return
        if taken:
            if target.sending():
                self._queued = (frames, nbytes)
            else:
                self.sent.add(frames, nbytes)
        capture = self.capture
        if capture is not None:
            taken = self._offer(capture, msg if self._prefix is None else [self._prefix, *msg])
            if taken is None:
                return
            self.captured += taken
        if self._queued is not None or (capture is not None and capture.sending()):
            self._block()

    def _offer(self, stream: ZMQStream, msg: list[bytes]) -> bool | None:
        """Send on ``stream``: True if taken (sent or queued), False if refused, None if gone.

        A refusal is counted and logged; a socket gone closes the proxy.
        """
        try:
            stream.send_multipart(msg)
        except StreamClosedError:
            self._on_socket_gone()
            return None
        except zmq.ZMQError as error:
            self._drop(error)
            return False
        return True

    def _drop(self, error: zmq.ZMQError) -> None:
        self.dropped += 1
        if self.dropped == 1:
            _log.warning(
                "proxy: libzmq refused a message (%s); counting this and later ones in "
                "statistics().dropped",
                error,
            )

    # -- back-pressure --------------------------------------------------------------

    def _block(self) -> None:
        """Stop reading until the target and capture queues are empty."""
        self._blocked = True
        self._read(False)
        waiting = self.target if self.target.sending() else self.capture
        if waiting is None or not waiting.sending():
            self._unblock(None)
            return
        waiting.drain().add_done_callback(self._unblock)

    def _unblock(self, drained: Future[None] | None) -> None:
        if drained is not None and drained.exception() is not None:
            return  # the stream closed: close() accounts for what was queued
        if self._stopped:
            return
        if self._queued is not None and not self.target.sending():
            self.sent.add(*self._queued)
            self._queued = None
        if self.target.sending() or (self.capture is not None and self.capture.sending()):
            self._block()
            return
        self._blocked = False
        self._read(True)

    def stop(self, target_unsent: int) -> int:
        """Stop for good; settle the queued message given what the target's close reported.

        Return how many of this pump's messages were not handed to libzmq.
        """
        self._stopped = True
        queued, self._queued = self._queued, None
        if queued is None:
            return 0
        if target_unsent:
            return 1
        self.sent.add(*queued)
        return 0
