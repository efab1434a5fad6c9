#!/usr/bin/env python3
"""Cold start to ready: spawn `talking-photo-bridge serve` on a fresh database in an empty directory,
poll /healthz and /readyz until they answer 200, kill it; repeat. Prints median and max.

usage: cold_start.py BINARY [RUNS]   (the upstream is the binary's own simulator, started once)
"""
import os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_ok(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as response:
                if response.status == 200:
                    return True
        except Exception:
            time.sleep(0.002)
    return False

binary = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
sim_port = free_port()
simulator = subprocess.Popen([binary, "simulate", "--listen", f"127.0.0.1:{sim_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
healthy, ready = [], []
try:
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty:
            port = free_port()
            env = dict(os.environ, BRIDGE_DATABASE=os.path.join(empty, "bridge.sqlite"), BRIDGE_LISTEN=f"127.0.0.1:{port}",
                       SURREAL_BASE_URL=f"http://127.0.0.1:{sim_port}", SURREAL_API_TOKEN="sim-token",
                       BRIDGE_API_KEYS="bench:bench-key-0123456789abcdef", BRIDGE_LOG_LEVEL="error")
            started = time.monotonic()
            bridge = subprocess.Popen([binary, "serve"], cwd=empty, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ok = wait_ok(f"http://127.0.0.1:{port}/healthz", started + 10)
            healthy.append((time.monotonic() - started) * 1000 if ok else float("nan"))
            ok = wait_ok(f"http://127.0.0.1:{port}/readyz", started + 10)
            ready.append((time.monotonic() - started) * 1000 if ok else float("nan"))
            bridge.kill()
            bridge.wait(timeout=10)
finally:
    simulator.kill()
print(f"cold start, fresh database in an empty directory ({runs} runs): "
      f"/healthz 200 after median {statistics.median(healthy):.0f} ms (max {max(healthy):.0f}), "
      f"/readyz 200 after median {statistics.median(ready):.0f} ms (max {max(ready):.0f})")
