"""Unit tests of the clock-skew-safe end-to-end latency samples."""

from __future__ import annotations

from dashstream_workloads.websocket_server.latency import LatencySample, latency_samples

START = 1_000_000.0  # consumer start, ms


def test_three_stages_when_both_timestamps_are_known() -> None:
    samples = latency_samples(header_timestamp_us=2_000_000_000, kafka_timestamp_ms=2_000_010,
                              now_ms=2_000_030.0, consumer_start_ms=START)
    assert samples == [
        LatencySample("producer_to_kafka", 10.0, False),
        LatencySample("kafka_to_websocket", 20.0, False),
        LatencySample("producer_to_websocket", 30.0, False),
    ]


def test_negative_latency_is_clamped_and_flagged() -> None:
    # The producer's clock runs 50 ms ahead of the broker's and ours.
    samples = latency_samples(2_000_050_000, 2_000_000, 2_000_020.0, START)
    assert samples == [
        LatencySample("producer_to_kafka", 0.0, True),
        LatencySample("kafka_to_websocket", 20.0, False),
        LatencySample("producer_to_websocket", 0.0, True),
    ]
    assert all(s.ms >= 0 for s in samples)


def test_missing_timestamps_give_fewer_stages() -> None:
    assert [s.stage for s in latency_samples(None, 2_000_000, 2_000_001.0, START)] == [
        "kafka_to_websocket"]
    assert [s.stage for s in latency_samples(2_000_000_000, -1, 2_000_001.0, START)] == [
        "producer_to_websocket"]
    assert latency_samples(0, None, 2_000_001.0, START) == []


def test_backlog_older_than_the_consumer_is_not_latency() -> None:
    assert latency_samples(500_000_000, 500_000, 2_000_000.0, START) == []
