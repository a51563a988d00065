"""Unit tests of the JSON frames sent to WebSocket clients and the DLQ headers."""

from __future__ import annotations

import json

from dashstream_workloads.proto.dashstream_pb2 import (
    MESSAGE_TYPE_QUALITY,
    DashStreamMessage,
    LibrarianDetails,
)
from dashstream_workloads.websocket_server.dlq import dlq_headers
from dashstream_workloads.websocket_server.frames import (
    anomaly_frame,
    event_frame,
    hello_frame,
    lagged_frame,
)
from dashstream_workloads.websocket_server.sequence import Anomaly
from dashstream_workloads.wire import DecodeError


def test_event_frame_carries_cursor_header_and_payload() -> None:
    msg = DashStreamMessage()
    msg.header.thread_id, msg.header.sequence = "t<script>", 2**40
    msg.header.timestamp_us = 1_795_000_000_000_000
    msg.header.message_type = MESSAGE_TYPE_QUALITY
    msg.quality.model, msg.quality.passed = "m", True
    msg.quality.librarian.test_status = LibrarianDetails.TEST_STATUS_PASSED
    frame = json.loads(event_frame(msg, partition=2, offset=41, kafka_timestamp_ms=17))
    assert (frame["type"], frame["partition"], frame["offset"]) == ("event", 2, 41)
    assert frame["kafka_timestamp_ms"] == 17
    assert frame["header"]["sequence"] == 2**40 and frame["header"]["thread_id"] == "t<script>"
    assert frame["header"]["timestamp_us"] == 1_795_000_000_000_000
    assert frame["header"]["message_type"] == "MESSAGE_TYPE_QUALITY"
    assert frame["quality"]["model"] == "m" and frame["quality"]["passed"] is True
    assert frame["quality"]["librarian"]["test_status"] == "TEST_STATUS_PASSED"


def test_heartbeat_frame() -> None:
    msg = DashStreamMessage()
    msg.heartbeat.messages_sent = 3
    frame = json.loads(event_frame(msg, 0, 0, None))
    assert frame["heartbeat"] == {"messages_sent": 3} and "quality" not in frame


def test_control_frames() -> None:
    assert json.loads(lagged_frame(7)) == {"type": "lagged", "missed": 7}
    assert json.loads(hello_frame("1.2", None))["type"] == "hello"
    assert json.loads(anomaly_frame(Anomaly("gap", "t", 5, 2))) == {
        "type": "anomaly", "kind": "gap", "thread_id": "t", "sequence": 5, "missing": 2}


class _Record:
    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return 99

    def timestamp(self) -> tuple[int, int]:
        return (1, 1234)


def test_dlq_headers_name_the_error_and_the_source() -> None:
    headers = dict(dlq_headers(_Record(), DecodeError("buffer_underflow", "x" * 5000), "g"))  # type: ignore[arg-type]
    assert headers["error_type"] == b"buffer_underflow"
    assert headers["source_topic"] == b"events" and headers["source_offset"] == b"99"
    assert headers["source_partition"] == b"1" and headers["source_timestamp_ms"] == b"1234"
    assert headers["consumer_group"] == b"g" and headers["component"] == b"websocket-server"
    assert len(headers["error_detail"] or b"") == 1024  # bounded
