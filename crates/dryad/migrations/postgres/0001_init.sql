-- DRYAD schema (PostgreSQL). Timestamps are Unix epoch milliseconds, ids are UUID text,
-- JSON documents are text: the same column types decode identically on PostgreSQL.
CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE executions (
    id                TEXT    PRIMARY KEY NOT NULL,
    agent_id          TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    execution_start   BIGINT  NOT NULL,
    execution_end     BIGINT,
    status            TEXT    NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    input_data        TEXT    NOT NULL,
    output_data       TEXT,
    error_message     TEXT,
    execution_time_ms BIGINT,
    lease_expires_at  BIGINT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);

-- Listing an agent's history newest first (id breaks ties so pages are stable); also COUNT(*) per agent.
CREATE INDEX executions_agent_start ON executions (agent_id, execution_start DESC, id DESC);
-- Status-filtered listing, per-status counts and last execution per agent (index-only).
CREATE INDEX executions_agent_status ON executions (agent_id, status, execution_start DESC, id DESC);
-- Average and percentiles of execution time per agent (index-only, finished executions only).
CREATE INDEX executions_agent_time ON executions (agent_id, execution_time_ms)
    WHERE execution_time_ms IS NOT NULL;
-- Status indexes for the queue, partial so they hold only the few live rows (the finished
-- history never touches them): oldest PENDING first and queue depth; expired RUNNING leases.
CREATE INDEX executions_pending ON executions (created_at) WHERE status = 'PENDING';
CREATE INDEX executions_running ON executions (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX executions_user ON executions (user_id);
