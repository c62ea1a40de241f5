"""A fake BigchainDB node for runnel's tests: BigchainDB needs MongoDB and Tendermint, which no
registry reachable here has, so this speaks the documented shapes instead (see
../shared/reference/peers.md section 2a and BigchainDB's `web/websocket_server.py`):

- the event stream on ws://127.0.0.1:<ws>/api/v1/streams/valid_transactions: one text frame per
  transaction of each committed block, `{"height", "asset_id", "transaction_id"}`, in bursts
  per block; anything a client sends is ignored;
- the HTTP API on http://127.0.0.1:<api>: `GET /api/v1/` (with `streams`),
  `GET /api/v1/transactions/<id>` (404 until the API "knows" it), `GET /api/v1/blocks/<height>`
  (`{"height", "transactions": [...]}`, 404 for a height not committed).

And the ways the real one misbehaves, on command (one per line on stdin):
- `commit N [CREATE|TRANSFER]`: commits a block of N transactions and streams their events;
- `lag MS`: from now on the API knows a block's transactions MS after its events went out;
- `drop`: closes every stream connection abruptly (the node keeps committing);
- `quiet`: commits without streaming events, as if every client was disconnected;
- `garbage`: streams frames that are not events (not JSON; JSON without a height);
- `fail HEIGHT 500|text N`: the next N reads of block HEIGHT answer HTTP 500, or a 200 whose
  body is not JSON (an HTML error page from a proxy).

Prints `{"event": "listening", "api": port, "ws": port}`, then `{"event": "committed", ...}`
for each block and `{"event": "connected"}` for each stream connection.
"""

import asyncio
import hashlib
import json
import sys

from websockets.asyncio.server import serve

blocks = []  # committed blocks: {"height", "transactions", "known_at"}
by_id = {}
clients = set()
state = {"lag": 0.0, "quiet": False, "counter": 0}
failing = {}  # height -> list of failure kinds, the next first


def out(**event):
    print(json.dumps(event), flush=True)


def transaction(operation, asset):
    state["counter"] += 1
    n = state["counter"]
    body = {
        "version": "2.0",
        "operation": operation,
        "asset": {"data": {"car": f"VIN{n:05d}", "model": "model-3"}} if operation == "CREATE" else {"id": asset},
        "metadata": {"lease": {"months": 24, "n": n}},
        "inputs": [{"owners_before": [f"owner{n}"], "fulfills": None, "fulfillment": "pGSAI..."}],
        "outputs": [{"amount": "1", "public_keys": [f"lessee{n}"], "condition": {"uri": "ni:///sha-256;x", "details": {"type": "ed25519-sha-256", "public_key": f"lessee{n}"}}}],
    }
    body["id"] = hashlib.sha3_256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


async def commit(count, operation):
    loop = asyncio.get_running_loop()
    height = len(blocks) + 1
    last_create = next((t["id"] for b in reversed(blocks) for t in b["transactions"] if t["operation"] == "CREATE"), "0" * 64)
    txs = []
    for _ in range(count):
        op = operation or ("CREATE" if state["counter"] % 2 == 0 else "TRANSFER")
        tx = transaction(op, last_create)
        if op == "CREATE":
            last_create = tx["id"]
        txs.append(tx)
    block = {"height": height, "transactions": txs, "known_at": loop.time() + state["lag"]}
    blocks.append(block)
    for tx in txs:
        by_id[tx["id"]] = block
    if not state["quiet"]:
        for tx in txs:
            asset_id = tx["id"] if tx["operation"] == "CREATE" else tx["asset"]["id"]
            frame = json.dumps({"height": height, "asset_id": asset_id, "transaction_id": tx["id"]})
            for ws in list(clients):
                try:
                    await ws.send(frame)
                except Exception:
                    pass
    out(event="committed", height=height, ids=[t["id"] for t in txs])


def known(block):
    return asyncio.get_running_loop().time() >= block["known_at"]


async def api(reader, writer):
    try:
        request = await reader.readuntil(b"\r\n\r\n")
    except Exception:
        writer.close()
        return
    path = request.split(b" ")[1].decode()
    status, body = 404, {"message": "Not found", "status": 404}
    if path in ("/api/v1/", "/api/v1"):
        status, body = 200, {"streams": f"ws://127.0.0.1:{state['ws']}/api/v1/streams/valid_transactions", "transactions": "/api/v1/transactions/"}
    elif path.startswith("/api/v1/transactions/"):
        block = by_id.get(path.rsplit("/", 1)[1])
        if block and known(block):
            status, body = 200, next(t for t in block["transactions"] if t["id"] == path.rsplit("/", 1)[1])
    elif path.startswith("/api/v1/blocks/"):
        try:
            height = int(path.rsplit("/", 1)[1])
        except ValueError:
            height = 0
        if failing.get(height):
            kind = failing[height].pop(0)
            if kind == "500":
                status, body = 500, {"message": "Internal Server Error", "status": 500}
            else:
                page = b"<html><body>502 Bad Gateway</body></html>"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page)
                await writer.drain()
                writer.close()
                return
        elif 1 <= height <= len(blocks) and known(blocks[height - 1]):
            block = blocks[height - 1]
            status, body = 200, {"height": height, "transactions": block["transactions"]}
    text = json.dumps(body).encode()
    writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (status, len(text)) + text)
    await writer.drain()
    writer.close()


async def stream(ws):
    clients.add(ws)
    out(event="connected", clients=len(clients))
    try:
        async for _ in ws:
            pass  # the stream is one way: what a client sends is ignored
    except Exception:
        pass
    finally:
        clients.discard(ws)


async def main():
    http = await asyncio.start_server(api, "127.0.0.1", 0)
    async with serve(stream, "127.0.0.1", 0) as ws_server:
        state["ws"] = ws_server.sockets[0].getsockname()[1]
        out(event="listening", api=http.sockets[0].getsockname()[1], ws=state["ws"])
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            words = line.decode().split()
            if not words:
                continue
            if words[0] == "commit":
                await commit(int(words[1]), words[2] if len(words) > 2 else None)
            elif words[0] == "lag":
                state["lag"] = int(words[1]) / 1000
                out(event="lag")
            elif words[0] == "quiet":
                state["quiet"] = True
                out(event="quiet")
            elif words[0] == "loud":
                state["quiet"] = False
                out(event="loud")
            elif words[0] == "garbage":
                for ws in list(clients):
                    await ws.send("this is not JSON")
                    await ws.send(json.dumps({"asset_id": "no height"}))
                out(event="garbage")
            elif words[0] == "fail":
                failing.setdefault(int(words[1]), []).extend([words[2]] * int(words[3]))
                out(event="fail")
            elif words[0] == "drop":
                for ws in list(clients):
                    ws.transport.abort()
                out(event="dropped", clients=len(clients))


asyncio.run(main())
