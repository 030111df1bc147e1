-- Shopper sessions from entry to exit, the shelf events attributed to them, the live stock per slot, the
-- audit trail of every operator action, and the disputes raised from the app. Times are milliseconds
-- since the Unix epoch; money is integer minor units.
CREATE TABLE shop_sessions (
    session_id     TEXT PRIMARY KEY NOT NULL,
    account_id     TEXT NOT NULL,
    -- NULL for a session closed without a recorded entry (closed over the billing API only)
    gate           TEXT,
    opened_at_ms   BIGINT NOT NULL,
    -- why the pipeline sent it to review, a JSON array of strings, written at close
    review_reasons TEXT NOT NULL DEFAULT '[]'
);

-- One row per shelf event; event_id is unique per store, so a repeated write is a no-op and stock is
-- adjusted once. session_id is NULL for an event no shopper was attributed to.
CREATE TABLE session_events (
    event_id      TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('pick', 'put')),
    sku           TEXT NOT NULL,
    slot          TEXT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    confidence    DOUBLE PRECISION NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    at_ms         BIGINT NOT NULL,
    camera        TEXT,
    evidence_jpeg BYTEA
);
CREATE INDEX session_events_session ON session_events (session_id, at_ms);

CREATE TABLE inventory (
    slot          TEXT PRIMARY KEY NOT NULL,
    sku           TEXT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity >= 0),
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    -- an operator's username, or `key:<scope>` for a machine
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    reason     TEXT,
    -- JSON: what changed (before and after)
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_session ON audit_log (session_id, at_ms);

CREATE TABLE disputes (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES carts (session_id),
    sku            TEXT NOT NULL,
    reason         TEXT NOT NULL,
    -- open: in the review queue; resolved: an operator corrected or upheld the receipt
    status         TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    created_at_ms  BIGINT NOT NULL,
    resolved_by    TEXT,
    resolved_at_ms BIGINT,
    -- what the correction takes off the charge; sending the refund to the payments service is not yet wired
    refund_minor   BIGINT
);
CREATE INDEX disputes_open ON disputes (status, session_id);
