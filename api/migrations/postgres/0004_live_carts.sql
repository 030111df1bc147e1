-- The cart of a session still in the store, as the pipeline last folded it, for the app to show. Prices
-- are looked up when it is read; the final, priced cart is written to `carts` at close.
CREATE TABLE live_carts (
    session_id    TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL,
    lines         TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
