"""Real WebSocket peers for runnel's tests, built on the `websockets` library.

Each mode prints one JSON object per line on stdout (`{"event": ...}`) and, where the test
drives it, reads one command per line on stdin. Run with the venv scripts/test.sh prepares:
`.peers/websocket/bin/python tests/websocket/peer.py MODE ...`.
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus


def out(**event):
    print(json.dumps(event), flush=True)


def tls(args):
    if not args.cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    return context


async def commands():
    """Lines from stdin, as an async iterator."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode().strip()


async def feed_server(args):
    """A server that drops its first connection without a closing handshake.

    On every connection it first waits for the client's subscribe frame. The first connection
    then gets `--first` messages and one frame that is not JSON, and its TCP connection is
    closed. Later connections get `--second` messages, numbered on, and stay open.
    """
    connections = 0

    async def handler(ws):
        nonlocal connections
        connections += 1
        n = connections
        subscription = json.loads(await ws.recv())
        out(event="subscribed", connection=n, message=subscription)
        if n == 1:
            for seq in range(args.first):
                await ws.send(json.dumps({"seq": seq, "connection": n}))
            await ws.send("this is { not json")
            ws.transport.close()
            out(event="dropped", connection=n)
            return
        for seq in range(args.first, args.first + args.second):
            await ws.send(json.dumps({"seq": seq, "connection": n}))
        out(event="sent", connection=n)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ssl=tls(args)) as server:
        out(event="listening", port=server.sockets[0].getsockname()[1])
        await server.serve_forever()


async def collect_server(args):
    """A server that prints every frame it receives.

    Commands on stdin: `drop` closes the open connection without a closing handshake and refuses
    new ones (HTTP 503) until `accept`.
    """
    state = {"refusing": False, "connection": None}

    def process_request(connection, request):
        if state["refusing"]:
            out(event="refused")
            return connection.respond(503, "come back later\n")
        return None

    async def handler(ws):
        state["connection"] = ws
        out(event="connected")
        async for frame in ws:
            out(event="frame", data=json.loads(frame))

    async def control():
        async for command in commands():
            if command == "drop":
                state["refusing"] = True
                if state["connection"] is not None:
                    state["connection"].transport.close()
                out(event="dropped")
            elif command == "accept":
                state["refusing"] = False
                out(event="accepting")

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        out(event="listening", port=server.sockets[0].getsockname()[1])
        await control()


async def client(args):
    """A client that prints every frame it receives and sends what it is told.

    Commands on stdin: `send <text>` sends a text frame; `close` closes the connection. With
    `--slow` it reads nothing (and buffers at most one frame) until the command `read`.
    """
    headers = [tuple(h.split(": ", 1)) for h in args.header]
    try:
        ws = await connect(args.url, additional_headers=headers, max_queue=1 if args.slow else 16)
    except InvalidStatus as refused:
        out(event="refused", status=refused.response.status_code, body=refused.response.body.decode())
        return
    out(event="open")
    reading = asyncio.Event()
    if not args.slow:
        reading.set()

    async def reader():
        await reading.wait()
        try:
            async for frame in ws:
                out(event="frame", data=json.loads(frame))
        except ConnectionClosed:
            pass
        out(event="closed", code=ws.close_code, reason=ws.close_reason)

    task = asyncio.create_task(reader())
    async for command in commands():
        verb, _, rest = command.partition(" ")
        if verb == "send":
            await ws.send(rest)
        elif verb == "read":
            reading.set()
        elif verb == "close":
            await ws.close()
    await task


def main():
    # Connections the tests cut on purpose would be logged as handler failures.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["feed-server", "collect-server", "client"])
    parser.add_argument("--url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--first", type=int, default=10)
    parser.add_argument("--second", type=int, default=10)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    modes = {"feed-server": feed_server, "collect-server": collect_server, "client": client}
    asyncio.run(modes[args.mode](args))


if __name__ == "__main__":
    main()
