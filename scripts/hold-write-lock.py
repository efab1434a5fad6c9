#!/usr/bin/env python3
"""Holds the SQLite write lock of DATABASE (as another process would: a backup tool, a migration, an
operator's shell) until killed, at most SECONDS. Prints "locked" once it holds it."""
import sqlite3
import sys
import time

path, seconds = sys.argv[1], float(sys.argv[2])
connection = sqlite3.connect(path, isolation_level=None, timeout=60)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(seconds)
connection.execute("COMMIT")
print("released", flush=True)
