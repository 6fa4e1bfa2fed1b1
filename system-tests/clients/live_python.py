"""The live suite through the Python client openapi-python-client generates
from the OpenAPI document (system-tests/clients/run.sh).

Records with an Idempotency-Key and retries it (and sees the conflict of a
changed body), records with attachments (and the field path of a bad
media type), queries with paging, seals, builds, downloads, verifies and
inspects a bundle, and checks that the document's timestamp pattern and
the server agree on every day of a leap year and a common year (a client
validating against the schema must accept every time the server accepts).

Usage: live_python.py BASE_URL   (token in ARXI_CLIENT_TOKEN)
"""

import base64
import datetime
import json
import os
import re
import sys
import time

from arxi_sidecar_client import AuthenticatedClient
from arxi_sidecar_client.api.control import build_bundle, seal_segment
from arxi_sidecar_client.api.data import record_envelope, record_envelope_with_attachments
from arxi_sidecar_client.api.read import (
    download_bundle,
    inspect_bundle,
    list_segments,
    query_envelopes,
    verify_bundle,
)
from arxi_sidecar_client.models import (
    AttachmentInput,
    BuildRequest,
    BundleRequest,
    Empty,
    InspectRequest,
    Problem,
    QueryRequest,
    Receipt,
    RecordRequest,
    RecordWithAttachmentsRequest,
)

BASE = sys.argv[1]
client = AuthenticatedClient(base_url=BASE, token=os.environ["ARXI_CLIENT_TOKEN"])
SPEC = os.environ["ARXI_OPENAPI"]


def check(condition, what):
    if not condition:
        raise SystemExit(f"live_python: FAILED: {what}")


def record_with_retry():
    key = f"py-order-{time.time_ns()}"
    body = RecordRequest(
        type_="orders.placed",
        actor="py-client",
        subject="order/1",
        payload={"order": 1, "amount": 12.5, "items": ["a", "b"], "note": None},
    )
    first = record_envelope.sync_detailed(client=client, body=body, idempotency_key=key)
    check(first.status_code == 201 and isinstance(first.parsed, Receipt), f"record: {first.content!r}")
    retry = record_envelope.sync_detailed(client=client, body=body, idempotency_key=key)
    check(retry.parsed.seq == first.parsed.seq, "the retry replays the same receipt")
    check(retry.headers.get("idempotent-replayed") == "true", "replay marker")
    changed = RecordRequest(type_="orders.placed", payload={"order": 2})
    conflict = record_envelope.sync_detailed(client=client, body=changed, idempotency_key=key)
    check(conflict.status_code == 409 and isinstance(conflict.parsed, Problem), "conflict")
    check(conflict.parsed.code == "idempotency_conflict", f"conflict code {conflict.parsed.code}")


def record_attachments():
    content = base64.b64encode(b"signed contract").decode()
    body = RecordWithAttachmentsRequest(
        type_="docs.signed",
        payload={"doc": "contract"},
        attachments=[AttachmentInput(name="contract.txt", media_type="text/plain", content_base64=content)],
    )
    answer = record_envelope_with_attachments.sync_detailed(client=client, body=body)
    check(answer.status_code == 201, f"attachments: {answer.content!r}")
    bad = RecordWithAttachmentsRequest(
        type_="docs.signed",
        payload={},
        attachments=[AttachmentInput(name="x", media_type="Text/Plain", content_base64="")],
    )
    refused = record_envelope_with_attachments.sync_detailed(client=client, body=bad)
    check(refused.status_code == 422, f"a bad media type: {refused.status_code}")
    check(json.loads(refused.content)["field"] == "attachments[0].media_type", "field path")


def query_pages():
    for n in range(5):
        record_envelope.sync_detailed(client=client, body=RecordRequest(type_="paging.py", payload={"n": n}))
    seen, cursor = [], None
    for _ in range(10):
        request = QueryRequest(type_="paging.py", limit=2)
        if cursor is not None:
            request.cursor = cursor
        page = query_envelopes.sync_detailed(client=client, body=request).parsed
        seen += [envelope.payload["n"] for envelope in page.envelopes]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    check(seen == [0, 1, 2, 3, 4], f"paged {seen}")
    return len(seen)


def bundle_round_trip():
    sealed = seal_segment.sync_detailed(client=client, body=Empty())
    check(sealed.status_code == 200, f"seal: {sealed.content!r}")
    built = build_bundle.sync_detailed(client=client, body=BuildRequest(), idempotency_key=f"py-bundle-{time.time_ns()}")
    check(built.status_code == 201, f"build: {built.content!r}")
    bundle = built.parsed.bundle
    download = download_bundle.sync_detailed(client=client, id=bundle.id)
    check(download.status_code == 200 and len(download.content) == bundle.size, "download")
    report = verify_bundle.sync_detailed(client=client, body=BundleRequest(bundle_id=bundle.id)).parsed
    check(report.valid and not report.findings and report.checked.envelopes > 0, f"verify: {report}")
    summary = inspect_bundle.sync_detailed(client=client, body=InspectRequest(bundle_id=bundle.id)).parsed
    check(summary.manifest.recorder_id == "clients", "inspect")
    page = list_segments.sync_detailed(client=client, limit=1).parsed
    check(len(page.segments) == 1, "segments with a limit")
    bad = list_segments.sync_detailed(client=client, limit=0)
    check(bad.status_code == 422 and bad.parsed.field == "limit", "limit=0 names it")


def timestamps_agree():
    """The schema's timestamp pattern and the server, day by day."""
    with open(SPEC) as spec:
        schemas = json.load(spec)["components"]["schemas"]
    pattern = re.compile(schemas["QueryRequest"]["properties"]["received_from"]["pattern"])
    checked = 0
    for year in (2024, 2025, 2100):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year}-{month:02d}-{day:02d}T12:00:00.000000Z"
                try:
                    datetime.date(year, month, day)
                    real = True
                except ValueError:
                    real = False
                matches = pattern.match(text) is not None
                check(matches == real, f"pattern on {text}: {matches}, calendar: {real}")
                if year == 2100 and month != 2:
                    continue
                answer = query_envelopes.sync_detailed(client=client, body=QueryRequest(received_from=text, limit=1))
                check((answer.status_code == 200) == real, f"server on {text}: {answer.status_code}")
                checked += 1
    return checked


record_with_retry()
record_attachments()
paged = query_pages()
bundle_round_trip()
days = timestamps_agree()
print(f"live_python: passed (record, retry, conflict, attachments, {paged} envelopes paged, seal, build, download, verify, inspect; {days} dates against the server)")
