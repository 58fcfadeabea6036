"""schemathesis hooks for partner-billing (loaded through SCHEMATHESIS_HOOKS by schemathesis.py).

An Idempotency-Key names one request: a client that sends the same key with a different body is
answered 422 `idempotency_key_reused`, as the IETF draft asks. The fuzzer draws keys from the
header's pattern and so repeats short ones ("0") across unrelated requests, which a real client never
does. A well-formed key is therefore made unique, as a client would make it; malformed keys are left
as drawn, so the 400 for them is still exercised.
"""
import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and WELL_FORMED.fullmatch(headers[name]):
            headers[name] = "fuzz-" + uuid.uuid4().hex
