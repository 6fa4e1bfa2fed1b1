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
  exclude in every plane; they are replaced with U+FFFD;
- the rules the document states as `x-arxi-*` extensions instead of
  schema alternatives (mainstream generators cannot compile those, issue
  23): buildBundle takes segment members or sequence members, not both
  (`x-arxi-exclusive`: positive cases keep the segment ones), and at most
  one payload selection (`x-arxi-at-most-one`: positive cases keep the
  first present of `withhold_payloads` true, `disclose_subject`,
  `disclose_type`); erasePayloads takes exactly one of `subject` and
  `seqs` (`x-arxi-exactly-one`: positive cases keep `subject`, or get one
  when they have neither);
  verifyBundle and inspectBundle take exactly one of `bundle_id` and
  `bundle_base64` (`x-arxi-exactly-one`: positive cases keep one, or get
  an empty upload's id when they have neither); a payload's numbers lie
  within ±(2^53-1) and it nests at most 63 deep (`x-arxi-number-range`:
  numbers outside are clamped, deeper values cut).

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


SAFE_INTEGER_MAX = 2**53 - 1
PAYLOAD_DEPTH_MAX = 60


def _payload(value, depth=0):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return max(-SAFE_INTEGER_MAX, min(SAFE_INTEGER_MAX, value))
    if depth >= PAYLOAD_DEPTH_MAX:
        return None
    if isinstance(value, list):
        return [_payload(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: _payload(item, depth + 1) for key, item in value.items()}
    return value


def _record(body):
    if "payload" in body:
        body["payload"] = _payload(body["payload"])


def _batch(body):
    for envelope in body.get("envelopes") or []:
        if isinstance(envelope, dict):
            _record(envelope)


def _one_source(body):
    stored, uploaded = body.get("bundle_id"), body.get("bundle_base64")
    if stored is not None and uploaded is not None:
        del body["bundle_base64"]
    elif stored is None and uploaded is None:
        body.pop("bundle_id", None)
        body.pop("bundle_base64", None)
        body["bundle_base64"] = ""


def _build(body):
    if any(body.get(key) is not None for key in ("first_segment", "last_segment")):
        body.pop("first_seq", None)
        body.pop("last_seq", None)
    if body.get("withhold_payloads") is True:
        body.pop("disclose_subject", None)
        body.pop("disclose_type", None)
    elif body.get("disclose_subject") is not None:
        body.pop("disclose_type", None)
    _ordered(body, "first_segment", "last_segment", default_first=1)
    _ordered(body, "first_seq", "last_seq", default_first=1)


def _erase(body):
    if body.get("subject") is not None:
        body.pop("seqs", None)
    elif body.get("seqs") is None:
        body.pop("seqs", None)
        body["subject"] = "schemathesis"


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
    _one_source(body)
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
    ("POST", "/v1/envelopes"): _record,
    ("POST", "/v1/envelopes/batch"): _batch,
    ("POST", "/v1/envelopes/with-attachments"): lambda body: (_record(body), _attachments(body)),
    ("POST", "/v1/bundles/verify"): _keys,
    ("POST", "/v1/bundles/inspect"): _one_source,
    ("POST", "/v1/erasures"): _erase,
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
