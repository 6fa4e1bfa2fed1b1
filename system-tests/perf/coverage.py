#!/usr/bin/env python3
"""How long an acknowledged envelope waits for a witnessed checkpoint.

Usage: coverage.py BASE_URL SECONDS

For SECONDS, every 50 ms: record one envelope (POST /v1/envelopes on a
connection of its own) and note when the answer arrived; meanwhile poll
GET /v1/log/checkpoint every 10 ms and note, for each recorded envelope,
when a witnessed checkpoint first covered its sequence number. Prints one
JSON object: samples, p50/p90/p99/max in milliseconds, and how many were
never covered before the end (counted, not dropped).
"""

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse


def connection(base):
    url = urlparse(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def main():
    base, seconds = sys.argv[1], float(sys.argv[2])
    acked = {}  # seq -> time acknowledged
    covered = {}  # seq -> time first covered
    lock = threading.Lock()
    stop = threading.Event()

    def poll():
        conn = connection(base)
        while not stop.is_set():
            conn.request("GET", "/v1/log/checkpoint")
            response = conn.getresponse()
            body = response.read()
            now = time.monotonic()
            if response.status == 200:
                size = int(body.split(b"\n")[1])
                with lock:
                    for seq, _ in acked.items():
                        if seq <= size and seq not in covered:
                            covered[seq] = now
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    conn = connection(base)
    body = json.dumps({"type": "bench.coverage", "payload": {"probe": True}})
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request("POST", "/v1/envelopes", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        now = time.monotonic()
        if response.status == 201:
            with lock:
                acked[json.loads(answer)["seq"]] = now
        time.sleep(0.05)
    # Give the last envelopes the same chance as the others: up to 5 s.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with lock:
            if len(covered) == len(acked):
                break
        time.sleep(0.05)
    stop.set()
    with lock:
        waits = sorted((covered[s] - t) * 1000 for s, t in acked.items() if s in covered)
        missing = len(acked) - len(waits)
    if not waits:
        print(json.dumps({"samples": len(acked), "never_covered": missing}))
        return
    at = lambda p: round(waits[min(len(waits) - 1, int(round((len(waits) - 1) * p)))], 1)
    print(json.dumps({
        "samples": len(acked), "never_covered": missing,
        "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": round(waits[-1], 1),
    }))


if __name__ == "__main__":
    main()
