"""``CopyStream``: a bounded in-memory pipe of whole blocks between a COPY reader and Arrow.

Both COPY sources feed one: the psycopg2 child process's stdout (``fill``, a reader thread) and
the psycopg 3 session's rows gathered into blocks (``put``, ``custody.extract.copy_session``).
Arrow's streaming CSV reader reads it (``read``) without a copy of the blocks.
"""

from __future__ import annotations

import queue
from typing import Any

COPY_BLOCK_BYTES = 1 << 20  # 4 MiB parsed no faster and cost ~150 MiB more peak RSS (Arrow reads blocks ahead)


class CopyStream:
    """A bounded in-memory pipe of whole blocks between a producer thread and Arrow's CSV reader.

    The producer side queues blocks of about ``block`` bytes (``fill`` reads a raw binary file
    into them, ``put`` takes ready blocks) and ends the stream with ``end``; at most ``depth``
    blocks wait, so memory stays bounded at ``block * depth``. The reader side (``read``) hands a
    queued buffer to Arrow as it is, without copying. A 1 MiB OS pipe alone would stall the
    database whenever a chunk is being hashed and encrypted; this buffer lets the server keep
    sending while the reader works. ``abandon`` unblocks the producer when the reader stops
    early; the producer sees ``abandoned``.
    """

    def __init__(self, block: int = COPY_BLOCK_BYTES, depth: int = 16) -> None:
        self._q: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=depth)
        self.block = block
        self._rest: bytes | bytearray = b""
        self._eof = False
        self.abandoned = False
        self.closed = False

    # producer side
    def fill(self, fh: Any) -> None:
        """Read ``fh`` (a raw binary file) to its end in blocks, queueing each full block; then end."""
        try:
            while not self.abandoned:
                buf = bytearray(self.block)
                view = memoryview(buf)
                got = 0
                while got < self.block:
                    k = fh.readinto(view[got:])
                    if not k:
                        break
                    got += k
                view.release()
                if got == 0:
                    break
                if got < self.block:
                    del buf[got:]
                self._q.put(buf)
                if got < self.block:
                    break
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            self.end()

    def put(self, block: bytes | bytearray) -> None:
        """Queue one block (waits while ``depth`` blocks are queued; dropped once abandoned)."""
        if block and not self.abandoned:
            self._q.put(block)

    def end(self) -> None:
        """Queue the end marker: a live stream waits for the reader to make room; an abandoned
        one drains its queue first, so there it never blocks."""
        while True:
            try:
                self._q.put_nowait(None)
                return
            except queue.Full:
                if self.abandoned:
                    self._drain()
                else:
                    self._q.put(None)
                    return

    # reader side (pyarrow)
    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | bytearray:
        if self._rest:
            out, self._rest = self._rest, b""
            return out
        if self._eof or self.abandoned:
            return b""
        block = self._q.get()
        if block is None:
            self._eof = True
            return b""
        return block

    def next_block(self) -> bytes | bytearray:
        """The next queued block whole (``b""`` at the end): for readers that take blocks as the
        producer cut them (whole rows each, from ``put``), such as the binary COPY decoder."""
        return self._next()

    def at_end(self) -> bool:
        """Whether the stream ended without a (further) byte; waits for the next block or the end.

        A COPY of no rows sends no byte at all, which Arrow's CSV reader refuses ("Empty CSV file").
        """
        if not self._rest:
            self._rest = self._next()
        return not self._rest

    def read(self, n: int = -1) -> bytes | bytearray:
        if n < 0:
            parts = []
            while part := self._next():
                parts.append(part)
            return b"".join(parts)
        block = self._next()
        if len(block) <= n:
            return block  # a whole block (Arrow asks for exactly one): no copy
        self._rest = block[n:]
        return block[:n]

    def close(self) -> None:
        self.closed = True

    def abandon(self) -> None:
        """Stop both sides: a producer blocked on a full queue and a reader blocked on an empty one
        (Arrow's read-ahead thread, which Python's exit would otherwise wait for) both wake up."""
        self.abandoned = True
        self._drain()
        self.end()

    def _drain(self) -> None:
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return
