-- Idempotency-Key of POST /api/v1/agent-studio/execute (draft-ietf-httpapi-idempotency-key-header):
-- one row per (user, key), written in the same transaction as the execution it names, so that
-- concurrent duplicates meet on the primary key and resolve to one execution.
CREATE TABLE idempotency_keys (
    user_id       TEXT    NOT NULL,
    idem_key      TEXT    NOT NULL,
    execution_id  TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- The purge of expired keys.
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
