-- Facts about the store itself, e.g. made_by = 'workbench demo' (the demo rebuilds only stores it made).
CREATE TABLE IF NOT EXISTS store_meta (
    key     VARCHAR PRIMARY KEY,
    value   VARCHAR NOT NULL,
    set_at  TIMESTAMPTZ NOT NULL
);
