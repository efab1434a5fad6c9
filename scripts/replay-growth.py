#!/usr/bin/env python3
"""Database growth from replays on a running bridge (loopback only, bounded).

    replay-growth.py PORT DATABASE API_KEY [EVENTS=30] [REPLAYS=50]

Makes two subscriptions: one whose receiver is down (http://127.0.0.1:9/, so its deliveries stay
pending) and one whose receiver answers 204. Sends EVENTS pings to each, then REPLAYS replays of
each, and prints one JSON object: deliveries per subscription and the database's size (with its WAL)
before and after. Needs BRIDGE_ALLOW_PRIVATE_DESTINATIONS=true and a long first retry."""
import http.client
import http.server
import json
import sqlite3
import sys
import threading
import time

port, database, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
events = int(sys.argv[4]) if len(sys.argv) > 4 else 30
replays = int(sys.argv[5]) if len(sys.argv) > 5 else 50


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()


def call(method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (json.loads(data) if data else {})


def size():
    """Bytes the database's pages take, as a reader sees it (WAL included, free pages excluded)."""
    with sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=60) as db:
        pages, free, page = (db.execute("PRAGMA " + p).fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * page


def deliveries(subscription):
    with sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=60) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM deliveries WHERE subscription_id = ? GROUP BY state", (subscription,)).fetchall())


def settle(subscription, expected, state):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and deliveries(subscription).get(state, 0) < expected:
        time.sleep(0.1)


since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
down = call("POST", "/v1/subscriptions", {"url": "http://127.0.0.1:9/down"})[1]["id"]
up = call("POST", "/v1/subscriptions", {"url": "http://127.0.0.1:%d/up" % receiver.server_address[1]})[1]["id"]
for subscription in (down, up):
    for _ in range(events):
        call("POST", "/v1/subscriptions/%s/test" % subscription)
settle(up, events, "succeeded")
before = {"bytes": size(), "down": deliveries(down), "up": deliveries(up)}
queued = {down: 0, up: 0}
for i in range(replays):
    for subscription in (down, up):
        status, body = call("POST", "/v1/subscriptions/%s/replay" % subscription, {"since": since})
        queued[subscription] += body.get("queued", 0) if status in (200, 201, 202) else 0
    settle(up, events * (i + 2), "succeeded")
after = {"bytes": size(), "down": deliveries(down), "up": deliveries(up)}
print(json.dumps({"events": events, "replays": replays, "queued_down": queued[down], "queued_up": queued[up],
                  "before": before, "after": after}))
receiver.shutdown()
