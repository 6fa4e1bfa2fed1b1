"""schemathesis hooks: the request rules JSON Schema cannot state.

The OpenAPI schemas state every rule of a single member (patterns,
lengths, ranges, exactly-one-of). A few rules relate members to each
other or need arithmetic on the curve; for those, a schema-valid case
may still break a rule the server checks, and the server answers 422,
as it should. So that `positive_data_acceptance` tests everything else,
positive cases are adjusted here to keep those rules, and only those:

- buildBundle: `first_segment <= last_segment`, `first_seq <= last_seq`
  (a missing first bound is 1);
- queryEnvelopes: `seq_from <= seq_to`, `received_from < received_before`;
  a `cursor` must be one the recorder issued (a tag under its key), which
  a generated one never is: positive cases leave it out;
- recordEnvelopeWithAttachments: attachment names unique;
- verifyBundle: `keys` are Ed25519 public keys of full order, which a
  hex pattern cannot say; positive cases use real keys
  (ARXI_SCHEMATHESIS_KEYS, comma separated, set by run.sh);
- every body: no string holds a Unicode noncharacter (U+FDD0..U+FDEF,
  U+xFFFE, U+xFFFF; I-JSON), which the free-form payload schema cannot
  exclude in every plane; they are replaced with U+FFFD.

Negative cases are never touched: that schema-invalid requests are
refused is checked as generated.
"""

import hashlib
import os

import schemathesis
from schemathesis import GenerationMode

KEYS = [key for key in os.environ.get("ARXI_SCHEMATHESIS_KEYS", "").split(",") if key]


def _ordered(body, first, last, default_first=None):
    low = body.get(first)
    if low is None:
        low = default_first
    high = body.get(last)
    if low is not None and high is not None and low > high:
        body[first], body[last] = high, low


def _build(body):
    _ordered(body, "first_segment", "last_segment", default_first=1)
    _ordered(body, "first_seq", "last_seq", default_first=1)


def _query(body):
    body.pop("cursor", None)
    _ordered(body, "seq_from", "seq_to")
    # Timestamps share one fixed format, so text order is time order.
    low, high = body.get("received_from"), body.get("received_before")
    if low is not None and high is not None:
        if low == high:
            del body["received_before"]
        elif low > high:
            body["received_from"], body["received_before"] = high, low


def _attachments(body):
    seen = set()
    for index, item in enumerate(body.get("attachments") or []):
        if not isinstance(item, dict) or "name" not in item:
            continue
        name = item["name"]
        while name in seen:
            name = f"attachment-{index}-{len(seen)}"
        item["name"] = name
        seen.add(name)


def _keys(body):
    keys = body.get("keys")
    if not isinstance(keys, list) or not KEYS:
        return
    body["keys"] = [
        KEYS[hashlib.sha256(str(key).encode()).digest()[0] % len(KEYS)] for key in keys
    ]


def _is_noncharacter(char):
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _without_noncharacters(value):
    if isinstance(value, str):
        return "".join("\ufffd" if _is_noncharacter(c) else c for c in value)
    if isinstance(value, list):
        return [_without_noncharacters(item) for item in value]
    if isinstance(value, dict):
        return {_without_noncharacters(k): _without_noncharacters(v) for k, v in value.items()}
    return value


RULES = {
    ("POST", "/v1/bundles/build"): _build,
    ("POST", "/v1/query/envelopes"): _query,
    ("POST", "/v1/envelopes/with-attachments"): _attachments,
    ("POST", "/v1/bundles/verify"): _keys,
}


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if isinstance(case.body, dict):
        case.body = _without_noncharacters(case.body)
    rule = RULES.get((case.operation.method.upper(), case.operation.path))
    if rule is not None and isinstance(case.body, dict):
        rule(case.body)
    return case
