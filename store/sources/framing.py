"""Incremental RFC 6587 stream decoder: splits a TCP/TLS byte stream into syslog frames, detecting
octet-counting vs LF framing per connection, with a hard frame-size cap so hostile streams stay bounded.
"""

from __future__ import annotations

from .base import MAX_LINE_BYTES

# An octet count above this is not a big message but a broken or hostile stream: the connection is closed
# rather than skipping gigabytes. Counts between the frame cap and this are cut and skipped.
MAX_OCTET_COUNT = 16 * 1024 * 1024
_MAX_COUNT_DIGITS = 10
_INTER_FRAME_JUNK = b"\n\r\x00"


def strip_trailer(frame: bytes) -> bytes:
    """Drop one trailing LF, CRLF or NUL: rsyslog counts its trailing LF inside octet-counted frames and
    puts one inside some UDP datagrams; the parsers must see the message without it."""
    if frame.endswith(b"\n"):
        return frame[:-2] if frame.endswith(b"\r\n") else frame[:-1]
    if frame.endswith(b"\x00"):
        return frame[:-1]
    return frame


class FrameDecoder:
    """Feed raw stream bytes in any chunking; complete frames (without framing) are appended to the
    caller's list, problems to the caller's notes dict keyed by the frame's index in that list.

    The framing is chosen from the first byte of the stream: a digit means octet-counting, anything else
    LF framing (a first header that is not `DIGITS SP` also falls back to LF, so digit-led plain lines are
    not refused). Once octet framing is confirmed, a malformed header is unrecoverable: `error` is set and
    the connection should be closed. Nothing here raises on any input.
    """

    __slots__ = (
        "max_frame", "max_octet_count", "mode", "error", "cut_frames", "_buf", "_skip", "_skip_to_lf",
        "_confirmed",
    )

    def __init__(self, max_frame: int = MAX_LINE_BYTES, max_octet_count: int = MAX_OCTET_COUNT) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be at least 1 byte")
        self.max_frame = max_frame
        self.max_octet_count = max(max_octet_count, max_frame)
        self.mode: str | None = None  # "octet" | "lf" once detected
        self.error: str | None = None  # why the stream cannot be decoded further
        self.cut_frames = 0
        self._buf = b""
        self._skip = 0  # octet mode: bytes of an oversized frame still to discard
        self._skip_to_lf = False  # LF mode: discarding the rest of an oversized line
        self._confirmed = False  # octet mode: at least one well-formed header seen

    def feed(self, data: bytes, frames: list[bytes], notes: dict[int, str]) -> bool:
        """Decode `data`; returns False once the stream is broken (see `error`); later feeds do nothing."""
        if self.error is not None:
            return False
        if not data:
            return True
        if self.mode is None:
            lead = (self._buf + data).lstrip(_INTER_FRAME_JUNK)
            if not lead and len(self._buf) + len(data) <= self.max_frame:
                self._buf += data  # only terminators so far: keep them, they may belong to a first LF line
                return True
            self.mode = "octet" if lead[:1].isdigit() else "lf"
        if self.mode == "lf":
            self._feed_lf(data, frames, notes)
            return True
        return self._feed_octet(data, frames, notes)

    @property
    def pending(self) -> bool:
        """A frame has started and not completed (bytes held, or an oversized frame still being skipped)."""
        return bool(self._skip or self._skip_to_lf or self._buf.strip(_INTER_FRAME_JUNK))

    def finish(self, frames: list[bytes], notes: dict[int, str]) -> None:
        """End of stream: hand over what is left (a last line without LF, a short octet frame), flagged."""
        rest, self._buf = self._buf, b""
        if self.error is not None or not rest:
            return
        if self.mode == "lf":
            if not self._skip_to_lf:
                frame = strip_trailer(rest)
                if frame:
                    frames.append(frame)
            return
        rest = rest.lstrip(_INTER_FRAME_JUNK)
        if not rest:
            return
        sp = rest.find(b" ", 0, _MAX_COUNT_DIGITS + 1)
        if sp > 0 and rest[:sp].isdigit():
            body = rest[sp + 1:]
            if body:
                frames.append(strip_trailer(body))
                notes[len(frames) - 1] = f"incomplete frame: {len(body)} of {int(rest[:sp])} bytes at close"
        else:
            frames.append(rest)
            notes[len(frames) - 1] = "incomplete octet-count header at close"

    # LF framing ---------------------------------------------------------------------------------------

    def _feed_lf(self, data: bytes, frames: list[bytes], notes: dict[int, str]) -> None:
        if self._skip_to_lf:
            i = data.find(b"\n")
            if i < 0:
                return
            data = data[i + 1:]
            self._skip_to_lf = False
        buf = self._buf + data if self._buf else data
        parts = buf.split(b"\n")
        rest = parts.pop()
        cap = self.max_frame
        for part in parts:
            if part.endswith(b"\r"):
                part = part[:-1]
            if not part:
                continue
            if len(part) > cap:
                frames.append(part[:cap])
                notes[len(frames) - 1] = f"cut at {cap} bytes"
                self.cut_frames += 1
            else:
                frames.append(part)
        if len(rest) > cap and not (len(rest) == cap + 1 and rest.endswith(b"\r")):
            # No LF within the cap: keep the head, drop the rest of this line up to the next LF.
            frames.append(rest[:cap])
            notes[len(frames) - 1] = f"cut at {cap} bytes"
            self.cut_frames += 1
            rest = b""
            self._skip_to_lf = True
        self._buf = rest

    # Octet counting ------------------------------------------------------------------------------------

    def _feed_octet(self, data: bytes, frames: list[bytes], notes: dict[int, str]) -> bool:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return True
            data = data[self._skip:]
            self._skip = 0
        buf = self._buf + data if self._buf else data
        n_buf = len(buf)
        pos = 0
        cap = self.max_frame
        while pos < n_buf:
            if buf[pos] in _INTER_FRAME_JUNK:  # tolerated between frames (some senders add a LF)
                pos += 1
                continue
            sp = buf.find(b" ", pos, pos + _MAX_COUNT_DIGITS + 1)
            if sp < 0:
                if n_buf - pos <= _MAX_COUNT_DIGITS and buf[pos:].isdigit():
                    break  # header split across reads
                return self._bad_header(buf, pos, frames, notes)
            digits = buf[pos:sp]
            if not digits.isdigit() or digits[0] == 0x30:
                return self._bad_header(buf, pos, frames, notes)
            count = int(digits)
            if count > self.max_octet_count:
                self.error = f"octet count {count} exceeds {self.max_octet_count}"
                self._buf = b""
                return False
            self._confirmed = True
            start = sp + 1
            if count <= cap:
                end = start + count
                if end > n_buf:
                    break  # wait for the rest of the frame
                frame = strip_trailer(buf[start:end])
                if frame:
                    frames.append(frame)
                pos = end
                continue
            if n_buf - start < cap:
                break  # collect the head of an oversized frame first; memory stays bounded by the cap
            frames.append(buf[start:start + cap])
            notes[len(frames) - 1] = f"cut at {cap} bytes (frame declared {count} bytes)"
            self.cut_frames += 1
            skip = count - cap
            avail = n_buf - (start + cap)
            if avail >= skip:
                pos = start + cap + skip
                continue
            self._skip = skip - avail
            pos = n_buf
        self._buf = buf[pos:] if pos < n_buf else b""
        return True

    def _bad_header(self, buf: bytes, pos: int, frames: list[bytes], notes: dict[int, str]) -> bool:
        if not self._confirmed:
            # The first "header" was not DIGITS SP: a plain line that happens to start with a digit.
            self.mode = "lf"
            self._buf = b""
            self._feed_lf(buf[pos:], frames, notes)
            return True
        head = buf[pos:pos + 16]
        self.error = f"bad octet-count header {head!r}"
        self._buf = b""
        return False


def decode_stream(chunks: list[bytes], max_frame: int = MAX_LINE_BYTES,
                  max_octet_count: int = MAX_OCTET_COUNT) -> tuple[list[bytes], dict[int, str], str | None]:
    """Decode a whole stream given as chunks (tests, replay): frames, notes, and the error if it broke."""
    dec = FrameDecoder(max_frame, max_octet_count)
    frames: list[bytes] = []
    notes: dict[int, str] = {}
    for chunk in chunks:
        if not dec.feed(chunk, frames, notes):
            break
    dec.finish(frames, notes)
    return frames, notes, dec.error
