#!/usr/bin/env python3
"""A loopback proxy that makes the sidecar look overloaded, for the client
examples' test (system-tests/client-examples/run.sh).

    flaky_proxy.py LISTEN_PORT UPSTREAM_PORT LOG_FILE

The first request of each Idempotency-Key is answered 503 with
`Retry-After: 1` (as the sidecar answers when it is overloaded), the next
with 429 and `Retry-After: 1`; from then on requests go to the sidecar on
UPSTREAM_PORT unchanged. Every request is logged as one JSON line (method,
path, key, what was answered, when), so the test can check that a client
waited as told and kept its key. It never leaves 127.0.0.1.
"""

import http.client
import http.server
import json
import sys
import threading
import time

LISTEN_PORT, UPSTREAM_PORT, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
refusals = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        key = self.headers.get("Idempotency-Key")
        with lock:
            seen = refusals.get(key, 0) if key else 2
            if key:
                refusals[key] = seen + 1
        status = (503, 429)[seen] if seen < 2 else None
        with open(LOG, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path, "key": key,
                                  "refused": status, "at": time.time()}) + "\n")
        if status:
            problem = json.dumps({"type": "about:blank", "status": status, "title": "Busy",
                                  "code": "recorder_overloaded", "retryable": True}).encode()
            self.send_response(status)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(problem)))
            self.end_headers()
            self.wfile.write(problem)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM_PORT, timeout=30)
        forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=forwarded)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_POST = handle_one

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN_PORT), Handler).serve_forever()
