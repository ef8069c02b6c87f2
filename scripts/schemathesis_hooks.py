"""schemathesis hooks of scripts/schemathesis.sh (loaded through schemathesis.toml)."""

import schemathesis

EXECUTE = "/api/v1/agent-studio/execute"


@schemathesis.check
def idempotency_422_is_only_key_reuse(ctx, response, case):
    """A schema-valid execute may be refused with 422 only for a reused Idempotency-Key."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if case.method.upper() != "POST" or case.operation.path != EXECUTE:
        return None
    if response.status_code != 422:
        return None
    try:
        code = response.json().get("error")
    except Exception:  # not JSON: the other checks report it
        code = None
    headers = {k.lower(): v for k, v in (case.headers or {}).items()}
    if code != "idempotency_key_reused" or "idempotency-key" not in headers:
        raise AssertionError(
            f"schema-valid execute refused with 422 {code!r}; only a reused Idempotency-Key "
            "(`idempotency_key_reused`) may be"
        )
    return None
