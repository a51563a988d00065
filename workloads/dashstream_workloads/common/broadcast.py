"""Where a broadcast reader starts each partition: every replica reads every partition.

A consumer group splits a topic's partitions between its members; that is right for
the exporter (each record counted once) and wrong for the websocket-server, whose
viewers must see the whole stream whichever replica the Service sends them to. So the
websocket-server's fan-out reads with *manual assignment* of all partitions, joins no
group and commits nothing: no replica depends on another's progress.

Start offsets: at start-up, the pipeline group's committed offset when there is one
(where a single replica would have resumed), else ``auto.offset.reset``. A partition
added to the topic later starts at its beginning: every record in it is new, and a
group consumer with ``latest`` would skip those produced before it noticed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

__all__ = ["OFFSET_BEGINNING", "OFFSET_END", "plan_new_partitions"]

# librdkafka's logical offsets (confluent_kafka.OFFSET_BEGINNING / OFFSET_END).
OFFSET_BEGINNING: Final = -2
OFFSET_END: Final = -1


def plan_new_partitions(
    assigned: Iterable[int],
    listed: Iterable[int],
    committed: Mapping[int, int],
    *,
    initial: bool,
    from_earliest: bool,
) -> list[tuple[int, int]]:
    """The (partition, start offset) pairs to add to a broadcast reader's assignment.

    Parameters
    ----------
    assigned
        Partitions the reader already reads.
    listed
        Partitions the topic's metadata lists now.
    committed
        The pipeline group's committed offsets (negative or absent: none).
    initial
        True for the reader's first assignment (start-up), False for partitions that
        appeared while it ran.
    from_earliest
        ``auto.offset.reset`` is ``earliest``.
    """
    have = set(assigned)
    out = []
    for partition in sorted(set(listed) - have):
        if not initial:
            start = OFFSET_BEGINNING
        elif committed.get(partition, -1) >= 0:
            start = committed[partition]
        else:
            start = OFFSET_BEGINNING if from_earliest else OFFSET_END
        out.append((partition, start))
    return out
