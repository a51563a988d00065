"""Unit tests of the DashStream frame codec (dashstream_workloads.wire)."""

from __future__ import annotations

from typing import get_args

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dashstream_workloads import wire
from dashstream_workloads.contract import DECODE_ERROR_TYPES
from dashstream_workloads.proto.dashstream_pb2 import (
    MESSAGE_TYPE_HEARTBEAT,
    MESSAGE_TYPE_QUALITY,
    DashStreamMessage,
    LibrarianDetails,
)
from dashstream_workloads.wire import DecodeError, SchemaCompatibility, decode, encode

_u32 = st.integers(0, 2**32 - 1)
_text = st.text(max_size=40)


@st.composite
def messages(draw: st.DrawFn, big_text: bool = False) -> DashStreamMessage:
    """Arbitrary valid messages (current schema version)."""
    msg = DashStreamMessage()
    h = msg.header
    h.message_id = draw(_text)
    h.timestamp_us = draw(st.integers(-(2**63), 2**63 - 1))
    h.tenant_id = draw(_text)
    h.thread_id = draw(_text)
    h.sequence = draw(st.integers(0, 2**64 - 1))
    h.schema_version = wire.SCHEMA_VERSION
    if not big_text and draw(st.booleans()):
        h.message_type = MESSAGE_TYPE_HEARTBEAT
        msg.heartbeat.messages_sent = draw(st.integers(0, 2**64 - 1))
        return msg
    h.message_type = MESSAGE_TYPE_QUALITY
    q = msg.quality
    for field in ("quality_score", "accuracy", "relevance", "completeness", "latency_ms"):
        setattr(q, field, draw(st.floats(allow_nan=True, allow_infinity=True)))
    q.passed = draw(st.booleans())
    q.failure_category = draw(st.sampled_from(["", "Simple", "Medium", "Complex", "Edge", "x"]))
    q.model = draw(st.text(min_size=600, max_size=2000) if big_text else _text)
    q.retry_count = draw(_u32)
    q.session_id = draw(_text)
    q.turn_number = draw(_u32)
    q.application = draw(_text)
    if draw(st.booleans()):
        q.librarian.test_status = draw(st.sampled_from(LibrarianDetails.TestStatus.values()))
        q.librarian.request_duration_seconds = draw(st.floats(0, 100))
        q.librarian.iterations = draw(_u32)
    return msg


def _same(a: DashStreamMessage, b: DashStreamMessage) -> bool:
    # Byte comparison, because NaN scores make == false on equal messages.
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def _error(data: bytes, **kwargs: object) -> str:
    with pytest.raises(DecodeError) as info:
        decode(data, **kwargs)  # type: ignore[arg-type]
    return info.value.error_type


def _quality(schema_version: int = wire.SCHEMA_VERSION, model: str = "m") -> DashStreamMessage:
    msg = DashStreamMessage()
    msg.header.schema_version = schema_version
    msg.header.thread_id = "t"
    msg.header.sequence = 1
    msg.quality.model = model
    msg.quality.quality_score = 0.9
    return msg


def test_error_types_are_the_contracts() -> None:
    assert get_args(wire.DecodeErrorType) == DECODE_ERROR_TYPES
    assert "decompression_failure" in DECODE_ERROR_TYPES
    with pytest.raises(ValueError):
        DecodeError("decode_error", "not a contract value")  # type: ignore[arg-type]


@given(messages(), st.one_of(st.none(), st.integers(0, 4096)))
def test_roundtrip(msg: DashStreamMessage, threshold: int | None) -> None:
    frame = encode(msg, compress_threshold=threshold)
    assert frame[0] in (0, wire.FLAG_ZSTD)
    assert _same(decode(frame), msg)


@given(messages(big_text=True))
def test_roundtrip_compressed(msg: DashStreamMessage) -> None:
    msg.quality.model = msg.quality.model * 4  # repetitive: compression always wins
    frame = encode(msg)
    assert frame[0] == wire.FLAG_ZSTD
    assert len(frame) < msg.ByteSize()
    assert _same(decode(frame), msg)


def test_small_messages_are_not_compressed() -> None:
    assert encode(_quality())[0] == 0
    assert encode(_quality(model="m" * 5000), compress_threshold=None)[0] == 0


def test_empty_and_flag_only_frames_underflow() -> None:
    assert _error(b"") == "buffer_underflow"
    assert _error(b"\x00") == "buffer_underflow"
    assert _error(b"\x01" + zstandard.ZstdCompressor().compress(b"")) == "buffer_underflow"


@given(messages(), st.data())
def test_truncated_frames_underflow(msg: DashStreamMessage, data: st.DataObject) -> None:
    frame = encode(msg, compress_threshold=None)
    header_only = DashStreamMessage()
    header_only.header.CopyFrom(msg.header)
    boundary = 1 + header_only.ByteSize()  # flag byte + the complete header field
    # Any cut strictly inside a top-level field (not on a field boundary).
    inside = [n for n in range(2, len(frame)) if n != boundary]
    cut = data.draw(st.sampled_from(inside))
    assert _error(frame[:cut]) == "buffer_underflow"


def test_garbage_is_invalid_protobuf() -> None:
    assert _error(b"\x00\x0f\x01\x02") == "invalid_protobuf"  # wire type 7
    assert _error(b"\x00" + b"\xff" * 11) == "invalid_protobuf"  # varint > 10 bytes
    bad_utf8 = b"\x0a\x03\x22\x01\xff"  # header.thread_id = b"\xff"
    assert _error(b"\x00" + bad_utf8) == "invalid_protobuf"


def test_oversized_frames_are_refused() -> None:
    frame = encode(_quality(model="m" * 2000), compress_threshold=None)
    assert _error(frame, max_payload_bytes=1000) == "payload_too_large"
    assert decode(frame, max_payload_bytes=len(frame)).quality.model == "m" * 2000


def test_decompression_bombs_are_refused() -> None:
    msg = _quality(model="m" * 5_000_000)
    frame = encode(msg)
    assert frame[0] == wire.FLAG_ZSTD and len(frame) < 1000
    assert _error(frame, max_payload_bytes=1_000_000) == "payload_too_large"
    assert _error(frame, max_decompressed_bytes=1_000_000) == "payload_too_large"
    # A frame without a declared content size is stopped while streaming.
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(msg.SerializeToString())
    assert _error(b"\x01" + unsized, max_payload_bytes=1_000_000) == "payload_too_large"
    assert decode(b"\x01" + unsized).quality.model == msg.quality.model


def test_bad_zstd_is_a_decompression_failure() -> None:
    assert _error(b"\x01not zstd at all") == "decompression_failure"
    frame = encode(_quality(model="m" * 5000))
    assert _error(frame[:-3]) == "decompression_failure"
    assert _error(frame + b"junk") == "decompression_failure"
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"\x0a\x00" * 600)
    assert _error(b"\x01" + unsized[:-3]) == "decompression_failure"
    assert _error(b"\x01" + unsized + b"x") == "decompression_failure"


def test_reserved_flags_are_unknown() -> None:
    frame = encode(_quality())
    assert _error(bytes([0x80]) + frame[1:]) == "unknown_decode_error"


@pytest.mark.parametrize(
    ("policy", "accepted", "rejected"),
    [
        (SchemaCompatibility.EXACT, [1], [0, 2]),
        (SchemaCompatibility.FORWARD_COMPATIBLE, [1, 2, 3], [0]),
        (SchemaCompatibility.BACKWARD_COMPATIBLE, [0, 1], [2]),
    ],
)
def test_schema_policies(
    policy: SchemaCompatibility, accepted: list[int], rejected: list[int]
) -> None:
    for version in accepted:
        frame = encode(_quality(schema_version=version))
        assert (
            decode(frame, policy=policy, expected_schema_version=1).header.schema_version == version
        )
    for version in rejected:
        frame = encode(_quality(schema_version=version))
        assert _error(frame, policy=policy, expected_schema_version=1) == "schema_version_mismatch"


def test_future_schema_version_is_rejected_by_default() -> None:
    assert _error(encode(_quality(schema_version=wire.SCHEMA_VERSION + 1))) == (
        "schema_version_mismatch"
    )
    assert SchemaCompatibility("ForwardCompatible") is SchemaCompatibility.FORWARD_COMPATIBLE


def test_messages_without_header_are_not_version_checked() -> None:
    msg = DashStreamMessage()
    msg.heartbeat.messages_sent = 1
    assert not decode(encode(msg)).HasField("header")


@settings(max_examples=500)
@given(st.binary(max_size=300), st.sampled_from(list(SchemaCompatibility)))
def test_random_bytes_raise_only_decode_error(data: bytes, policy: SchemaCompatibility) -> None:
    try:
        decode(data, max_payload_bytes=200, policy=policy)
    except DecodeError as exc:
        assert exc.error_type in DECODE_ERROR_TYPES


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_zstd_payloads_raise_only_decode_error(data: bytes) -> None:
    for frame in (b"\x01" + data, b"\x01\x28\xb5\x2f\xfd" + data):
        try:
            decode(frame)
        except DecodeError as exc:
            assert exc.error_type in DECODE_ERROR_TYPES


def test_unexpected_exceptions_become_unknown_decode_error() -> None:
    assert _error(object()) == "unknown_decode_error"  # type: ignore[arg-type]


def _outcome(fn: object, data: bytes) -> tuple[str, bytes | str]:
    try:
        msg = fn(data)  # type: ignore[operator]
    except DecodeError as exc:
        return ("error", exc.error_type)
    return ("message", msg.SerializeToString(deterministic=True))


@settings(max_examples=500)
@given(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda m, v: encode(_quality(v, m), compress_threshold=None),
              _text, st.integers(0, 4)),
    st.builds(lambda b: b"\x00" + b, st.binary(max_size=120)),
), st.sampled_from(list(SchemaCompatibility)))
def test_the_bound_decoder_answers_exactly_as_decode(data: bytes,
                                                     policy: SchemaCompatibility) -> None:
    fast = wire.decoder(policy, max_payload_bytes=200)
    assert _outcome(fast, data) == _outcome(
        lambda d: decode(d, max_payload_bytes=200, policy=policy), data)
