"""RFC 6587 stream decoding: framing detection, trailer stripping, frame cap and resync, hostile streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.sources.framing import FrameDecoder, decode_stream, strip_trailer

# Captured from `logger -T --octet-count` and rsyslog omfwd (ingest-store-scale.md §1.2).
LOGGER_OCTET = (
    b'107 <13>1 2026-11-21T05:48:02.496249+00:00 vm app - - [timeQuality tzKnown="1" isSynced="0"] '
    b"tcp octet counting"
)
RSYSLOG_OCTET_BODY = b"<38>1 2026-11-21T05:48:22+00:00 vm sshd 999 - -  Accepted publickey for root ssh2\n"


def octet(body: bytes) -> bytes:
    return str(len(body)).encode() + b" " + body


def test_logger_octet_frame_decodes_to_the_message():
    frames, notes, err = decode_stream([LOGGER_OCTET])
    assert err is None and not notes
    assert frames == [LOGGER_OCTET[4:]]


def test_rsyslog_octet_count_includes_the_lf_which_is_stripped():
    frames, _, err = decode_stream([octet(RSYSLOG_OCTET_BODY) * 3])
    assert err is None
    assert frames == [RSYSLOG_OCTET_BODY[:-1]] * 3


def test_lf_framing_strips_lf_and_crlf_and_keeps_inner_nul():
    frames, _, err = decode_stream([b"<13>a\n<13>b\r\n<13>c\x00d\n"])
    assert err is None
    assert frames == [b"<13>a", b"<13>b", b"<13>c\x00d"]


def test_first_byte_decides_framing():
    dec = FrameDecoder()
    dec.feed(b"<13>x\n", [], {})
    assert dec.mode == "lf"
    dec = FrameDecoder()
    dec.feed(b"5 <13>x", [], {})
    assert dec.mode == "octet"


def test_digit_led_plain_line_falls_back_to_lf_instead_of_closing():
    frames, _, err = decode_stream([b"2026-11-21T05:48:22Z host app: hi\nnext line\n"])
    assert err is None
    assert frames == [b"2026-11-21T05:48:22Z host app: hi", b"next line"]


def test_oversized_lf_line_is_cut_flagged_and_stream_resyncs_at_next_lf():
    big = b"<13>" + b"A" * 5000
    frames, notes, err = decode_stream([big[:1000], big[1000:], b"\n<13>after\n"], max_frame=1024)
    assert err is None
    assert frames == [big[:1024], b"<13>after"]
    assert notes == {0: "cut at 1024 bytes"}


def test_oversized_octet_frame_is_cut_and_declared_remainder_skipped():
    big = b"<13>" + b"B" * 9000
    stream = octet(big) + octet(b"<13>next")
    chunks = [stream[i:i + 777] for i in range(0, len(stream), 777)]
    frames, notes, err = decode_stream(chunks, max_frame=1024)
    assert err is None
    assert frames == [big[:1024], b"<13>next"]
    assert "cut at 1024 bytes" in notes[0] and "9004" in notes[0]


def test_absurd_octet_count_breaks_the_stream_with_a_reason():
    frames, _, err = decode_stream([octet(b"<13>ok") + b"999999999 <13>x"])
    assert frames == [b"<13>ok"]
    assert err is not None and "999999999" in err


def test_non_digit_header_after_octet_frames_breaks_the_stream():
    for bad in (b"12x <13>x", b"abc <13>x", b"-5 <13>", b"12345678901 <13>", b"0 <13>x"):
        frames, _, err = decode_stream([octet(b"<13>ok") + bad])
        assert frames == [b"<13>ok"], bad
        assert err is not None and "bad octet-count header" in err, bad


def test_octet_frame_cut_short_by_close_is_kept_and_flagged():
    frames, notes, err = decode_stream([b"100 <13>only part"])
    assert err is None
    assert frames == [b"<13>only part"]
    assert "incomplete frame" in notes[0]


def test_last_lf_line_without_terminator_is_kept_at_close():
    frames, _, _ = decode_stream([b"<13>a\n<13>tail"])
    assert frames == [b"<13>a", b"<13>tail"]


def test_strip_trailer_removes_exactly_one():
    assert strip_trailer(b"x\r\n") == b"x"
    assert strip_trailer(b"x\n\n") == b"x\n"
    assert strip_trailer(b"x\x00") == b"x"
    assert strip_trailer(b"x\r") == b"x\r"


def test_decoder_memory_stays_bounded_by_the_frame_cap():
    dec = FrameDecoder(max_frame=4096)
    frames: list[bytes] = []
    for _ in range(256):  # 1 MiB without a single LF
        dec.feed(b"<" + b"x" * 4095, frames, {})
        assert len(dec._buf) <= 4096 + 1
    assert len(frames) == 1 and len(frames[0]) == 4096


# Properties -------------------------------------------------------------------------------------------

message = st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b and b[:1] not in (b"\r", b"\0"))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    msgs=st.lists(message, min_size=1, max_size=20),
    framing=st.sampled_from(["lf", "octet"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
    cap=st.sampled_from([480, 600, 65536]),
)
def test_any_chunking_gives_the_same_frames(msgs, framing, cuts, cap):
    if framing == "lf":
        msgs = [b"<" + m.lstrip(b"0123456789") for m in msgs]
        stream = b"".join(m + b"\n" for m in msgs)
    else:
        stream = b"".join(octet(m) for m in msgs)
    whole = decode_stream([stream], max_frame=cap)
    chunked = decode_stream(_split(stream, cuts), max_frame=cap)
    bytewise = decode_stream([stream[i:i + 1] for i in range(len(stream))], max_frame=cap)
    assert whole == chunked == bytewise
    if framing == "octet" and cap == 65536:
        assert whole[0] == [strip_trailer(m) for m in msgs if strip_trailer(m)]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20))
def test_random_bytes_never_raise_and_chunking_does_not_matter(data, cuts):
    frames, notes, err = decode_stream(_split(data, cuts), max_frame=512)
    assert (frames, notes, err) == decode_stream([data], max_frame=512)
    assert all(len(f) <= 512 for f in frames)
    assert all(0 <= i < len(frames) for i in notes)
