"""Byte-level helpers of :mod:`dashstream_workloads.wire`: bounded zstd
decompression and the truncation check. Private; import :mod:`wire` instead.

They raise their own small exceptions so that ``wire`` alone decides which
``DecodeError`` type each failure becomes.
"""

from __future__ import annotations

import threading
from typing import Final

import zstandard

__all__ = [
    "DecompressionFailure",
    "PayloadTooLarge",
    "compressor",
    "decompress_bounded",
    "looks_truncated",
]

# Bounds the decoder's window memory whatever a frame header claims; 8 MiB
# covers every window our encoder produces (levels up to 19).
_MAX_WINDOW_BYTES: Final = 1 << 23
# Frames without a declared content size are fed to zstd in small slices so
# that the output can overshoot the limit by at most one slice's expansion
# (about 32 KiB per input byte, so 8 MiB here) before we stop.
_STREAM_SLICE: Final = 256


class PayloadTooLarge(Exception):
    """The decompressed payload would exceed the limit."""


class DecompressionFailure(Exception):
    """The data is not exactly one complete, valid zstd frame."""


# zstd contexts are not thread-safe: one per thread (and level).
_local = threading.local()


def compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``level``."""
    cache: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW_BYTES)
    dctx: zstandard.ZstdDecompressor = _local.decompressor
    return dctx


def decompress_bounded(payload: bytes, limit: int) -> bytes:
    """Decompress one zstd frame without ever producing much more than ``limit`` bytes.

    Raises
    ------
    PayloadTooLarge
        If the frame declares, or turns out to hold, more than ``limit`` bytes.
    DecompressionFailure
        If the frame is corrupt, truncated or followed by extra bytes.
    """
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise DecompressionFailure(f"bad zstd frame header: {exc}") from exc
    # Refuse before allocating: the declared size is what zstd would allocate.
    if declared > limit:
        raise PayloadTooLarge(f"declares {declared} decompressed bytes > {limit}")
    dctx = _decompressor()
    try:
        if declared >= 0:
            # Output is bounded by the (checked) declaration; zstd verifies it.
            return dctx.decompress(payload, allow_extra_data=False)
        return _decompress_unsized(dctx, payload, limit)
    except zstandard.ZstdError as exc:
        raise DecompressionFailure(str(exc)) from exc


def _decompress_unsized(dctx: zstandard.ZstdDecompressor, payload: bytes, limit: int) -> bytes:
    dobj = dctx.decompressobj()
    chunks: list[bytes] = []
    size = 0
    for start in range(0, len(payload), _STREAM_SLICE):
        chunk = dobj.decompress(payload[start : start + _STREAM_SLICE])
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"decompresses to more than {limit} bytes")
        chunks.append(chunk)
        if dobj.eof:
            if dobj.unused_data or start + _STREAM_SLICE < len(payload):
                raise DecompressionFailure("extra bytes after the zstd frame")
            return b"".join(chunks)
    raise DecompressionFailure("zstd frame is truncated")


class _Malformed(Exception):
    """Not protobuf at all (as opposed to cut short)."""


def _read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """Return (value, next position), or None if the buffer ends mid-varint.

    Raises
    ------
    _Malformed
        If the varint is longer than protobuf's maximum of 10 bytes.
    """
    value = shift = 0
    for index in range(pos, min(len(buf), pos + 10)):
        byte = buf[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if len(buf) - pos >= 10:
        raise _Malformed("varint longer than 10 bytes")
    return None


def looks_truncated(buf: bytes) -> bool:
    """Whether a payload that failed to parse looks cut off rather than malformed.

    The protobuf runtime reports both as the same error, but the seeds count
    them apart. Walking the top-level fields suffices: cutting a record
    always cuts its last top-level field (nested messages sit inside one).
    """
    try:
        return _walk_top_level(buf)
    except _Malformed:
        return False


def _walk_top_level(buf: bytes) -> bool:
    pos = 0
    while pos < len(buf):
        tag = _read_varint(buf, pos)
        if tag is None:
            return True
        key, pos = tag
        wire_type = key & 0x07
        if key >> 3 == 0:
            return False
        if wire_type == 0:
            value = _read_varint(buf, pos)
            if value is None:
                return True
            pos = value[1]
        elif wire_type == 2:
            length = _read_varint(buf, pos)
            if length is None:
                return True
            pos = length[1] + length[0]
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            return False  # groups (unused by proto3) or invalid wire types
    return pos > len(buf)
