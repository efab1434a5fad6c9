#!/usr/bin/env python3
"""Checks compose.yaml without a Docker engine (CI has none): what `docker compose config` would
refuse, plus the bridge's own rules for several replicas. Prints one line per problem; exit 1."""
import os
import sys
from urllib.parse import urlparse

import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(root, "compose.yaml")) as f:
    compose = yaml.safe_load(f)
problems = []
services = compose.get("services", {})
secrets = compose.get("secrets", {})
volumes = compose.get("volumes", {})
host_ports = {}
for name, service in services.items():
    if "build" not in service and "image" not in service:
        problems.append(f"{name}: neither build nor image")
    depends = service.get("depends_on", [])
    for dependency in depends if isinstance(depends, list) else depends.keys():
        if dependency not in services:
            problems.append(f"{name}: depends on unknown service {dependency}")
    for secret in service.get("secrets", []):
        if secret not in secrets:
            problems.append(f"{name}: unknown secret {secret}")
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if not source.startswith((".", "/")) and source not in volumes:
            problems.append(f"{name}: unknown volume {source}")
    for port in service.get("ports", []):
        host = str(port).split(":")[0]
        if host in host_ports:
            problems.append(f"{name}: host port {host} also used by {host_ports[host]}")
        host_ports[host] = name
    environment = service.get("environment", {}) or {}
    for variable, value in environment.items():
        if variable.endswith("_FILE"):
            secret = os.path.basename(str(value))
            if str(value).startswith("/run/secrets/") and secret not in service.get("secrets", []):
                problems.append(f"{name}: {variable} names secret {secret}, which the service does not mount")
    if "BRIDGE_DATABASE_FILE" in environment:
        if "BRIDGE_ENCRYPTION_KEY_FILE" not in environment and "BRIDGE_ENCRYPTION_KEY" not in environment:
            problems.append(f"{name}: PostgreSQL needs BRIDGE_ENCRYPTION_KEY(_FILE), shared by every replica")
for secret, spec in secrets.items():
    path = os.path.join(root, spec.get("file", ""))
    if not os.path.isfile(path):
        problems.append(f"secret {secret}: no file {spec.get('file')}")
database = secrets.get("bridge_database")
if database:
    url = urlparse(open(os.path.join(root, database["file"])).read().strip())
    if url.scheme not in ("postgres", "postgresql") or url.hostname not in services:
        problems.append(f"bridge_database: not a postgres:// URL to a compose service: {url.scheme}://…@{url.hostname}")
replicas = [n for n, s in services.items() if "replicas" in s.get("profiles", []) and "BRIDGE_DATABASE_FILE" in (s.get("environment") or {})]
if len(replicas) < 2:
    problems.append(f"the replicas profile has {len(replicas)} bridge replicas, want 2 or more")
key_files = {str((services[n].get("environment") or {}).get("BRIDGE_ENCRYPTION_KEY_FILE")) for n in replicas}
if len(key_files) > 1:
    problems.append(f"replicas use different encryption keys: {sorted(key_files)}")
for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
