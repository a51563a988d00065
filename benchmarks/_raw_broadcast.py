"""The baseline for the fan-out benchmark: the same frames, broadcast by plain aiohttp.

``python -m benchmarks._raw_broadcast PORT TOPIC GROUP``: consume the topic,
build each frame exactly as the websocket-server does (``event_frame``), and
send it to every client in turn from one broadcaster task. No validation,
DLQ, replay, metrics or per-client queues: what fan-out costs with nothing
else.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

from aiohttp import web
from confluent_kafka import Consumer

from dashstream_workloads.websocket_server.frames import event_frame
from dashstream_workloads.wire import decode

__all__ = ["main"]


def _consume(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[list[str]], topic: str,
             group: str, stop: threading.Event) -> None:
    consumer = Consumer({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                         "group.id": group, "auto.offset.reset": "earliest"})
    # "ready" once partitions are assigned: the parent starts producing only then.
    consumer.subscribe([topic], on_assign=lambda c, parts: print("ready", flush=True))
    try:
        while not stop.is_set():
            first = consumer.poll(0.2)
            if first is None:
                continue
            frames = []
            for m in [first, *consumer.consume(499, 0)]:
                if m.error() is None:
                    ts = m.timestamp()[1]
                    frames.append(event_frame(decode(m.value() or b""), m.partition() or 0,
                                              m.offset() or 0, ts))
            loop.call_soon_threadsafe(queue.put_nowait, frames)
    finally:
        consumer.close()


async def main(port: int, topic: str, group: str) -> None:
    clients: set[web.WebSocketResponse] = set()
    queue: asyncio.Queue[list[str]] = asyncio.Queue()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    async def broadcaster() -> None:
        while True:
            for frame in await queue.get():
                await asyncio.gather(*(ws.send_str(frame) for ws in list(clients)),
                                     return_exceptions=True)

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    thread = threading.Thread(target=_consume, args=(loop, queue, topic, group, stop),
                              daemon=True)
    thread.start()
    task = asyncio.create_task(broadcaster())
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    stop.set()
    task.cancel()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
