-- The store's catalog: what can be sold, at what price. Prices are integer minor units (cents).
CREATE TABLE skus (
    sku         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
