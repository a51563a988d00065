"""The DashStream frame codec: what goes into and comes out of a Kafka record value.

A frame is one flag byte followed by a serialised
:class:`~dashstream_workloads.proto.dashstream_pb2.DashStreamMessage`::

    +--------+---------------------------------------------+
    | flags  | payload (protobuf, zstd-compressed if bit 0) |
    +--------+---------------------------------------------+

Bit 0 of the flags means "payload is one zstd frame"; the other bits are
reserved and must be 0, so a future framing change is detected instead of
being misread as protobuf.

:func:`decode` raises only :class:`DecodeError`, whose ``error_type`` is one
of :data:`~dashstream_workloads.contract.values.DECODE_ERROR_TYPES` (the
label values of ``websocket_decode_errors_total`` and
``websocket_dlq_sends_total``):

``payload_too_large``
    The frame, or its decompressed payload, exceeds ``max_payload_bytes``
    (the decompressed limit can be set separately). Checked before any
    allocation the sender could inflate: a decompression bomb is refused,
    not expanded.
``buffer_underflow``
    Empty frame, flag byte without payload, or a payload cut off inside a
    field (a truncated record).
``invalid_protobuf``
    The payload is not a valid ``DashStreamMessage``.
``schema_version_mismatch``
    ``header.schema_version`` is not accepted by the
    :class:`SchemaCompatibility` policy. Messages without a header are not
    version-checked: the exporter counts them as protocol errors
    (``dashstream_exporter_messages_missing_header_total``) instead.
``decompression_failure``
    Bit 0 is set but the payload is not one complete, valid zstd frame
    (corrupt, truncated, or followed by extra bytes).
``unknown_decode_error``
    Anything else: reserved flag bits set, or an unexpected library error.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final

from dashstream_workloads._wire_support import (
    DecompressionFailure,
    PayloadTooLarge,
    compressor,
    decompress_bounded,
    looks_truncated,
)
from dashstream_workloads.contract.values import DECODE_ERROR_TYPES, DecodeErrorType
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage

__all__ = [
    "DEFAULT_COMPRESSION_LEVEL",
    "DEFAULT_COMPRESS_THRESHOLD",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "FLAG_ZSTD",
    "SCHEMA_VERSION",
    "DecodeError",
    "DecodeErrorType",
    "SchemaCompatibility",
    "decode",
    "decoder",
    "encode",
]

#: The schema version this code writes (``Header.schema_version``). Bump it
#: when the meaning of an existing field changes, not when a field is added.
SCHEMA_VERSION: Final = 1
FLAG_ZSTD: Final = 0x01
_KNOWN_FLAGS: Final = FLAG_ZSTD
#: The seeds' WEBSOCKET_MAX_PAYLOAD_BYTES default (10 MiB).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
#: Payloads larger than this are compressed (the seeds' producer default).
DEFAULT_COMPRESS_THRESHOLD: Final = 512
DEFAULT_COMPRESSION_LEVEL: Final = 3


class SchemaCompatibility(StrEnum):
    """Which ``header.schema_version`` values a consumer accepts.

    Values are the names the seeds use, so settings can name them directly
    (``SchemaCompatibility("Exact")``). With ``expected`` the consumer's
    version:

    ``Exact``
        only ``expected`` (the safe default).
    ``ForwardCompatible``
        ``expected`` and newer: the consumer lags behind the producer and
        trusts newer writers to only add fields.
    ``BackwardCompatible``
        ``expected`` and older (down to 0, i.e. unset): the producer lags
        behind the consumer.
    """

    EXACT = "Exact"
    FORWARD_COMPATIBLE = "ForwardCompatible"
    BACKWARD_COMPATIBLE = "BackwardCompatible"

    def accepts(self, version: int, expected: int) -> bool:
        """Whether a message of schema ``version`` is accepted by this policy."""
        if self is SchemaCompatibility.FORWARD_COMPATIBLE:
            return version >= expected
        if self is SchemaCompatibility.BACKWARD_COMPATIBLE:
            return version <= expected
        return version == expected


class DecodeError(Exception):
    """A frame could not be decoded.

    Parameters
    ----------
    error_type
        One of :data:`DECODE_ERROR_TYPES`; safe to use as a metric label.
    detail
        Human-readable explanation, for logs and DLQ headers (never a label).
    """

    def __init__(self, error_type: DecodeErrorType, detail: str) -> None:
        if error_type not in DECODE_ERROR_TYPES:
            raise ValueError(f"unknown decode error type {error_type!r}")
        super().__init__(f"{error_type}: {detail}")
        self.error_type: DecodeErrorType = error_type
        self.detail = detail


def encode(
    msg: DashStreamMessage,
    compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
    *,
    level: int = DEFAULT_COMPRESSION_LEVEL,
) -> bytes:
    """Frame a message for the wire.

    Parameters
    ----------
    msg
        The message; encoded as is (the caller fills in the header).
    compress_threshold
        Compress payloads longer than this many bytes; ``None`` never
        compresses. The compressed form is used only if it is smaller.
    level
        zstd compression level.

    Returns
    -------
    bytes
        The frame: flag byte plus payload.
    """
    payload = msg.SerializeToString(deterministic=True)
    if compress_threshold is not None and len(payload) > compress_threshold:
        compressed = compressor(level).compress(payload)
        if len(compressed) < len(payload):
            return bytes((FLAG_ZSTD,)) + compressed
    return b"\x00" + payload


def _parse(payload: bytes) -> DashStreamMessage:
    msg = DashStreamMessage()
    try:
        msg.ParseFromString(payload)
    except Exception as exc:  # the runtime's DecodeError and, in some backends, others
        if looks_truncated(payload):
            raise DecodeError("buffer_underflow", "payload ends inside a field") from exc
        raise DecodeError("invalid_protobuf", f"not a DashStreamMessage: {exc}") from exc
    return msg


def decode(
    data: bytes | bytearray | memoryview,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    policy: SchemaCompatibility = SchemaCompatibility.EXACT,
    expected_schema_version: int = SCHEMA_VERSION,
    *,
    max_decompressed_bytes: int | None = None,
) -> DashStreamMessage:
    """Decode one frame.

    Parameters
    ----------
    data
        The frame (a Kafka record value).
    max_payload_bytes
        Largest accepted frame, and (unless ``max_decompressed_bytes`` is
        given) largest accepted decompressed payload.
    policy
        Which schema versions to accept.
    expected_schema_version
        The consumer's schema version.
    max_decompressed_bytes
        Largest accepted decompressed payload (the decompression-bomb
        guard); defaults to ``max_payload_bytes``.

    Returns
    -------
    DashStreamMessage
        The message.

    Raises
    ------
    DecodeError
        For any frame that is not an acceptable message (see the module
        docstring for the error types). Nothing else is raised.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        # bytes(5) would silently make five zero bytes; refuse non-buffers.
        raise DecodeError("unknown_decode_error", f"expected bytes, got {type(data).__name__}")
    try:
        return _decode(
            bytes(data),
            max_payload_bytes,
            policy,
            expected_schema_version,
            max_payload_bytes if max_decompressed_bytes is None else max_decompressed_bytes,
        )
    except DecodeError:
        raise
    except Exception as exc:  # the contract: callers handle DecodeError only
        raise DecodeError("unknown_decode_error", f"{type(exc).__name__}: {exc}") from exc


def _decode(
    data: bytes,
    max_payload_bytes: int,
    policy: SchemaCompatibility,
    expected: int,
    max_decompressed: int,
) -> DashStreamMessage:
    if not data:
        raise DecodeError("buffer_underflow", "empty frame")
    if len(data) > max_payload_bytes:
        raise DecodeError("payload_too_large", f"frame of {len(data)} bytes > {max_payload_bytes}")
    flags = data[0]
    if flags & ~_KNOWN_FLAGS:
        raise DecodeError("unknown_decode_error", f"reserved flag bits set: {flags:#04x}")
    payload = data[1:]
    if not payload:
        raise DecodeError("buffer_underflow", "frame has no payload")
    if flags & FLAG_ZSTD:
        try:
            payload = decompress_bounded(payload, max_decompressed)
        except PayloadTooLarge as exc:
            raise DecodeError("payload_too_large", str(exc)) from exc
        except DecompressionFailure as exc:
            raise DecodeError("decompression_failure", str(exc)) from exc
        if not payload:
            raise DecodeError("buffer_underflow", "zstd frame holds no payload")
    msg = _parse(payload)
    if msg.HasField("header"):
        version = msg.header.schema_version
        if not policy.accepts(version, expected):
            raise DecodeError(
                "schema_version_mismatch",
                f"schema version {version} not accepted ({policy.value}, expected {expected})",
            )
    return msg


def decoder(
    policy: SchemaCompatibility = SchemaCompatibility.EXACT,
    expected_schema_version: int = SCHEMA_VERSION,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> Callable[[bytes], DashStreamMessage]:
    """:func:`decode` with its options bound, fast for the common frame.

    A consumer decodes every record, and the checks and calls around the parse
    cost as much as the parse itself. An uncompressed frame that parses and
    carries an accepted schema version (or no header) is decoded inline; any
    other frame goes through :func:`decode`, so results and errors are exactly
    its (tests/unit/workloads/test_wire.py compares both on arbitrary bytes).
    """
    def slow(data: bytes) -> DashStreamMessage:
        return decode(data, max_payload_bytes, policy, expected_schema_version)

    def fast(data: bytes) -> DashStreamMessage:
        if type(data) is not bytes or not 1 < len(data) <= max_payload_bytes or data[0]:
            return slow(data)
        msg = DashStreamMessage()
        try:
            msg.ParseFromString(data[1:])
        except Exception:  # classified by the full path
            return slow(data)
        if msg.HasField("header"):
            version = msg.header.schema_version
            if version != expected_schema_version and not policy.accepts(
                    version, expected_schema_version):
                return slow(data)
        return msg

    return fast
