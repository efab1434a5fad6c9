#!/usr/bin/env python3
"""/healthz and read latency on a running bridge while another process holds the SQLite write lock
for SECONDS and WRITERS clients keep sending writes that wait on it (loopback only, bounded).

    lock-latency.py PORT DATABASE API_KEY [SECONDS=10] [WRITERS=8]
Prints one JSON object with p50/p99/max in milliseconds for /healthz and GET /v1/subscriptions."""
import http.client
import json
import sqlite3
import sys
import threading
import time

port, database, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
writers = int(sys.argv[5]) if len(sys.argv) > 5 else 8
stop = threading.Event()
write_statuses = []


def request(method, path, body=None, timeout=60):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    connection.request(method, path, body=body, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def writer(index):
    n = 0
    while not stop.is_set() and n < 1000:
        body = json.dumps({"url": "https://hooks.example.com/lock-%d-%d" % (index, n)})
        try:
            write_statuses.append(request("POST", "/v1/subscriptions", body))
        except Exception:
            write_statuses.append(-1)
        n += 1


def percentile(values, p):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 1) if values else None


holder = sqlite3.connect(database, isolation_level=None, timeout=60)
holder.execute("BEGIN IMMEDIATE")
threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(writers)]
for t in threads:
    t.start()
samples = {"/healthz": [], "/v1/subscriptions?limit=1": []}
started = time.monotonic()
while time.monotonic() - started < seconds:
    for path in samples:
        t0 = time.monotonic()
        request("GET", path)
        samples[path].append((time.monotonic() - t0) * 1000)
    time.sleep(0.02)
holder.execute("COMMIT")
stop.set()
for t in threads:
    t.join(timeout=60)
result = {"lock_held_s": seconds, "waiting_writers": writers, "write_statuses": sorted(set(write_statuses))}
for path, values in samples.items():
    result[path] = {"n": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99), "max_ms": round(max(values), 1)}
print(json.dumps(result))
