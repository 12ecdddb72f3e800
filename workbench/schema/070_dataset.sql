-- Parquet datasets this store reads (`workbench attach DEST`): the store's tables that the dataset holds
-- are replaced by views over its files. At most one dataset per store.
CREATE TABLE IF NOT EXISTS dataset_attachments (
    dest         VARCHAR NOT NULL,      -- resolved directory of the dataset
    tables       VARCHAR[] NOT NULL,    -- tables now read through views
    attached_at  TIMESTAMPTZ NOT NULL
);
