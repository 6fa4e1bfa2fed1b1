#!/usr/bin/env python3
"""Record an event with the arxi sidecar, from Python's standard library.

    ARXI_URL=http://127.0.0.1:7878 python3 arxi_client.py
    ARXI_SOCKET=./arxi-data/arxi.sock python3 arxi_client.py     # the Unix socket
    ARXI_TOKEN_FILE=/run/secrets/arxi-token ...                   # with token auth

It records one event with an Idempotency-Key, retrying on 429 and 503 after
the Retry-After the sidecar sends (the same key every time, so a retry can
never record twice), then reads the envelope back by its sequence number.
Copy `record` and `get_envelope` into your application; nothing else is
needed. Exit status: 0 recorded, 1 refused or failed.
"""

import http.client
import json
import os
import socket
import sys
import time
import uuid

ATTEMPTS_MAX = 8          # then give up and let the caller decide
RETRY_AFTER_MAX_S = 30.0  # never sleep longer than this on one hint


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the sidecar's transport.unix)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def connection(timeout=10.0):
    path = os.environ.get("ARXI_SOCKET")
    if path:
        return UnixHTTPConnection(path, timeout)
    url = os.environ.get("ARXI_URL", "http://127.0.0.1:7878")
    host = url.split("://", 1)[-1].rstrip("/")
    return http.client.HTTPConnection(host, timeout=timeout)


def headers():
    result = {"Content-Type": "application/json", "Accept": "application/json"}
    token_file = os.environ.get("ARXI_TOKEN_FILE")
    if token_file:
        with open(token_file) as f:
            result["Authorization"] = "Bearer " + f.read().strip()
    return result


def retry_delay(response, attempt):
    """Retry-After in seconds when the sidecar sent it, else a capped backoff."""
    hint = response.getheader("Retry-After")
    if hint is not None and hint.strip().isdigit():
        return min(float(hint.strip()), RETRY_AFTER_MAX_S)
    return min(0.1 * 2 ** attempt, RETRY_AFTER_MAX_S)


def request(method, path, body=None, extra=None):
    """One request with retries on 429/503; returns (status, parsed JSON)."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(ATTEMPTS_MAX):
        conn = connection()
        try:
            conn.request(method, path, body=data, headers={**headers(), **(extra or {})})
            response = conn.getresponse()
            payload = response.read()
            if response.status in (429, 503) and attempt + 1 < ATTEMPTS_MAX:
                delay = retry_delay(response, attempt)
                print(f"arxi: {response.status}, retrying in {delay:.1f} s", file=sys.stderr)
                time.sleep(delay)
                continue
            return response.status, json.loads(payload) if payload else None
        finally:
            conn.close()
    raise RuntimeError("unreachable: the last attempt returns")


def record(event_type, payload, idempotency_key, actor=None, subject=None):
    """Records one event; the receipt once it is durable."""
    body = {"type": event_type, "payload": payload}
    if actor:
        body["actor"] = actor
    if subject:
        body["subject"] = subject
    status, answer = request("POST", "/v1/envelopes", body, {"Idempotency-Key": idempotency_key})
    if status != 201:
        raise RuntimeError(f"not recorded: {status} {answer}")
    return answer


def get_envelope(seq):
    status, answer = request("GET", f"/v1/envelopes?seq={seq}")
    if status != 200:
        raise RuntimeError(f"envelope {seq}: {status} {answer}")
    return answer


def main():
    key = os.environ.get("ARXI_IDEMPOTENCY_KEY") or f"python-example-{uuid.uuid4()}"
    receipt = record("orders.created", {"order": 42, "amount": 12.5}, key,
                     actor="python-example", subject="order/42")
    envelope = get_envelope(receipt["seq"])
    assert envelope["hash"] == receipt["hash"], "the stored envelope is the one recorded"
    print(json.dumps({"client": "python", "seq": receipt["seq"], "hash": receipt["hash"],
                      "idempotency_key": key}))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # the example's one exit point
        print(f"arxi: {error}", file=sys.stderr)
        sys.exit(1)
