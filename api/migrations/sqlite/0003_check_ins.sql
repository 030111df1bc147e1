-- App check-ins at the entry gate. A token's nonce is used once: a second scan of the same QR code
-- (a screenshot passed on, a replay) is refused. Times are milliseconds since the Unix epoch.
CREATE TABLE check_ins (
    nonce            TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL,
    gate             TEXT NOT NULL,
    checked_in_at_ms INTEGER NOT NULL
);
