-- Billing: a closed session's final cart, the charge outbox the relay drains, and the receipts.
-- Money is integer minor units; times are milliseconds since the Unix epoch.
CREATE TABLE carts (
    session_id   TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL,
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    total_minor  BIGINT NOT NULL CHECK (total_minor >= 0),
    -- review: waiting for an operator; pending: queued for the relay; charged; failed: refused for good;
    -- empty: nothing to charge
    status       TEXT NOT NULL CHECK (status IN ('review', 'pending', 'charged', 'failed', 'empty')),
    closed_at_ms BIGINT NOT NULL,
    approved_by  TEXT,
    charged_at_ms BIGINT
);

CREATE TABLE cart_lines (
    session_id       TEXT NOT NULL REFERENCES carts (session_id),
    sku              TEXT NOT NULL,
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor BIGINT NOT NULL CHECK (line_total_minor = quantity * unit_price_minor),
    PRIMARY KEY (session_id, sku)
);

-- One row per charge. The request body is frozen at close so that every attempt sends the same bytes
-- under the same idempotency key. A claimed row carries a lease; a relay that dies mid-flight leaves
-- the lease to expire and the row is sent again, which the idempotency key makes safe.
CREATE TABLE charge_outbox (
    session_id         TEXT PRIMARY KEY NOT NULL REFERENCES carts (session_id),
    idempotency_key    TEXT NOT NULL UNIQUE,
    body               TEXT NOT NULL,
    -- held: in review; pending: to send (or in flight while leased); settled; failed
    state              TEXT NOT NULL CHECK (state IN ('held', 'pending', 'settled', 'failed')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    lease_until_ms     BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL
);
CREATE INDEX charge_outbox_due ON charge_outbox (state, next_attempt_at_ms);

CREATE TABLE receipts (
    session_id    TEXT PRIMARY KEY NOT NULL REFERENCES carts (session_id),
    charge_id     TEXT NOT NULL UNIQUE,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    lines         TEXT NOT NULL,
    charged_at_ms BIGINT NOT NULL
);
