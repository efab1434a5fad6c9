#!/usr/bin/env python3
"""Hostile HTTP clients against a bridge on loopback, for tests and the README's figures.

Every loop here is bounded in count and time; only 127.0.0.1 is ever contacted.

    hostile-clients.py PORT slowloris      seconds until a dribbling half-head connection is closed
    hostile-clients.py PORT idle           seconds until an idle keep-alive connection is closed
    hostile-clients.py PORT cap N          N silent connections held: is one more request answered?
    hostile-clients.py PORT hold N SECS    N half-head + 1 silent connection: how many are open over time
Prints one JSON object.
"""
import json
import socket
import sys
import time

HOST = "127.0.0.1"
LIMIT = 120.0  # no scenario runs longer than this


def connect(port):
    s = socket.create_connection((HOST, port), timeout=LIMIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(s, wait):
    """True if the server closed the connection within `wait` seconds (bytes it still sends are read)."""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            if s.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:
            return True


def slowloris(port):
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n")
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < LIMIT:
        try:
            s.sendall(b"X-Slow: %d\r\n" % sent)
        except OSError:
            break
        sent += 1
        if closed_by_peer(s, 0.3):
            break
    else:
        return {"closed": False, "seconds": round(time.monotonic() - started, 2), "header_lines_sent": sent}
    return {"closed": True, "seconds": round(time.monotonic() - started, 2), "header_lines_sent": sent}


def idle(port):
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
    s.settimeout(LIMIT)
    answer = s.recv(4096)
    time.sleep(0.2)  # the rest of the response, if it came in pieces, is read by closed_by_peer
    started = time.monotonic()
    closed = closed_by_peer(s, LIMIT)
    return {"answered": answer.startswith(b"HTTP/1.1 200"), "closed": closed, "seconds": round(time.monotonic() - started, 2)}


def request_answered(port, wait):
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n\r\n")
    s.settimeout(wait)
    try:
        return s.recv(4096).startswith(b"HTTP/1.1 200")
    except socket.timeout:
        return False
    finally:
        s.close()


def cap(port, n):
    held = [connect(port) for _ in range(n)]
    time.sleep(0.5)
    while_held = request_answered(port, 2.0)
    for s in held:
        s.close()
    after = request_answered(port, 60.0)
    return {"held": n, "answered_while_held": while_held, "answered_after_release": after}


def hold(port, n, seconds):
    sockets = []
    for _ in range(n):
        s = connect(port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bri")
        sockets.append(s)
    sockets.append(connect(port))
    started = time.monotonic()
    samples = []
    open_set = list(sockets)
    for mark in [0, 1, 2, 5, 9, 11, 15, 30, 60]:
        if mark > seconds:
            break
        while time.monotonic() - started < mark:
            time.sleep(0.05)
        still = []
        for s in open_set:
            if not closed_by_peer(s, 0.001):
                still.append(s)
        open_set = still
        samples.append({"t": mark, "open": len(open_set)})
    for s in sockets:
        s.close()
    return {"connections": n + 1, "samples": samples}


def main():
    port = int(sys.argv[1])
    scenario = sys.argv[2]
    if scenario == "slowloris":
        result = slowloris(port)
    elif scenario == "idle":
        result = idle(port)
    elif scenario == "cap":
        result = cap(port, int(sys.argv[3]))
    elif scenario == "hold":
        result = hold(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit("unknown scenario " + scenario)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
