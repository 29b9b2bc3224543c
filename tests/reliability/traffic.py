"""Test traffic: numbered, checksummed multipart messages of mixed sizes, and their checker.

Every message carries its sequence number and a CRC-32 of its contents (frame
count, each frame's length and bytes) in a 16-byte header at the start of its
first frame, so a receiver proves each message arrived whole, exactly once and
in order without keeping a copy of what was sent. Sizes are drawn from a seeded
generator (reproducible from the seed in a failure message): mostly small frames,
so a test reaches its message count fast, with 0-byte frames, 1 to 10 frames a
message, and exact 1 MiB frames at fixed intervals so they always occur.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MiB = 1 << 20
HEADER = struct.Struct("<QIHH")  # seq, crc32, frame count, magic
MAGIC = 0x7A51
BIG_EVERY = 5000
"""Every BIG_EVERY-th message carries one exact 1 MiB frame."""

# Payloads are slices of one random pool: cheap to make, never all zeros.
_POOL = random.Random(7).randbytes(2 * MiB)


def _frame_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.80:
        return rng.randint(0, 64)
    if roll < 0.95:
        return rng.randint(65, 2048)
    if roll < 0.9995:
        return rng.randint(2049, 64 * 1024)
    return rng.randint(64 * 1024 + 1, MiB)


def _frame_count(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.5:
        return 1
    if roll < 0.8:
        return rng.randint(2, 3)
    if roll < 0.95:
        return rng.randint(4, 6)
    return rng.randint(7, 10)


def checksum(frames: Sequence[Any], first_offset: int) -> int:
    """CRC-32 of the frame count, each frame's length and its bytes (after the header)."""
    crc = zlib.crc32(struct.pack("<H", len(frames)))
    for index, frame in enumerate(frames):
        view = memoryview(frame)[first_offset:] if index == 0 else memoryview(frame)
        crc = zlib.crc32(struct.pack("<I", view.nbytes), crc)
        crc = zlib.crc32(view, crc)
    return crc


def make_message(seq: int, rng: random.Random, max_frame: int = MiB) -> list[bytes]:
    """Message number ``seq``: 1-10 frames, the first starting with the header.

    With ``max_frame`` below 1 MiB, frames are at most that size (no 1 MiB frames).
    """
    count = 10 if seq % 997 == 1 else _frame_count(rng)
    sizes = [min(_frame_size(rng), max_frame) for _ in range(count)]
    if seq % 101 == 3:
        sizes = [0] * count  # a run of empty frames (the first holds only the header)
    if seq % BIG_EVERY == BIG_EVERY - 1 and max_frame >= MiB:
        index = rng.randrange(count)
        sizes[index] = MiB - HEADER.size if index == 0 else MiB  # a frame of exactly 1 MiB
    return numbered(seq, [payload(size, rng) for size in sizes])


def payload(size: int, rng: random.Random) -> bytes:
    """``size`` bytes of random content."""
    start = rng.randrange(len(_POOL) - size + 1)
    return _POOL[start : start + size]


def numbered(seq: int, frames: list[bytes]) -> list[bytes]:
    """``frames`` as message number ``seq``: the header goes before the first frame."""
    crc = checksum(frames, 0)
    return [HEADER.pack(seq, crc, len(frames), MAGIC) + frames[0], *frames[1:]]


def messages(count: int, seed: int, max_frame: int = MiB) -> Iterator[list[bytes]]:
    """``count`` messages numbered from 0, reproducible from ``seed``."""
    rng = random.Random(seed)
    for seq in range(count):
        yield make_message(seq, rng, max_frame)


class Checker:
    """Receives messages and proves they arrive whole, once and in order.

    Call it with each message (a receive callback, or from a receive loop).
    Problems are recorded, never raised (a stream logs and swallows what a
    callback raises): `verify` asserts none happened. ``await wait(n)`` waits
    for ``n`` messages, failing if none arrives for ``stall`` seconds.
    ``on_progress(count)`` is called every ``progress_every`` messages.
    """

    def __init__(
        self,
        expected: int,
        *,
        strip: int = 0,
        on_progress: Callable[[int], None] | None = None,
        progress_every: int = 5000,
    ) -> None:
        self.expected = expected
        self.strip = strip  # leading frames to skip (a ROUTER's routing id)
        self.count = 0
        self.nbytes = 0
        self.frames = 0
        self.big = 0
        self.empty_frames = 0
        self.problems: list[str] = []
        self.on_progress = on_progress
        self.progress_every = progress_every
        self.started = time.monotonic()
        self.finished: float | None = None
        self._event = asyncio.Event()

    def __call__(self, msg: Sequence[Any]) -> None:
        frames = msg[self.strip :] if self.strip else msg
        seq = self.count
        self.count += 1
        problem = self._check(frames, seq)
        if problem is not None and len(self.problems) < 20:
            self.problems.append(problem)
        if self.on_progress is not None and self.count % self.progress_every == 0:
            self.on_progress(self.count)
        if self.count >= self.expected and self.finished is None:
            self.finished = time.monotonic()
        self._event.set()

    def _check(self, frames: Sequence[Any], seq: int) -> str | None:
        if not frames or memoryview(frames[0]).nbytes < HEADER.size:
            return f"message #{seq}: no header ({len(frames)} frames)"
        got_seq, crc, count, magic = HEADER.unpack_from(frames[0])
        if magic != MAGIC:
            return f"message #{seq}: bad magic {magic:#x}"
        if got_seq != seq:
            return f"message #{seq}: got sequence number {got_seq} (lost, duplicated or reordered)"
        if count != len(frames):
            return f"message #{seq}: {len(frames)} frames, header says {count}"
        if checksum(frames, HEADER.size) != crc:
            return f"message #{seq}: checksum mismatch (contents changed)"
        for frame in frames:
            size = memoryview(frame).nbytes
            self.nbytes += size
            self.big += size == MiB
        self.empty_frames += sum(1 for f in frames[1:] if memoryview(f).nbytes == 0)
        self.frames += len(frames)
        return None

    async def wait(self, n: int | None = None, stall: float = 10.0) -> None:
        """Wait until ``n`` (default: all expected) arrived; fail after ``stall`` s of silence."""
        target = self.expected if n is None else n
        while self.count < target:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), stall)
            except TimeoutError:
                raise AssertionError(
                    f"no message for {stall}s: got {self.count} of {target} "
                    f"(first problems: {self.problems[:3]})"
                ) from None

    def verify(self) -> None:
        """Assert every expected message arrived once, whole and in order."""
        assert not self.problems, self.problems
        assert self.count == self.expected, f"got {self.count} of {self.expected}"

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started
