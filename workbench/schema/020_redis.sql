-- Redis / Valkey: one snapshot per INFO taken (live) or file ingested, its INFO as long-form rows and
-- its SLOWLOG. Raw rows are append-only; deltas are computed by workbench.analysis.redis.
CREATE SEQUENCE IF NOT EXISTS redis_snapshot_id_seq START 1;
CREATE TABLE IF NOT EXISTS redis_snapshots (
    snapshot_id     BIGINT PRIMARY KEY DEFAULT nextval('redis_snapshot_id_seq'),
    ingest_id       BIGINT NOT NULL,
    taken_at        TIMESTAMPTZ NOT NULL,   -- server_time_usec when the server sends it, else clock
    label           VARCHAR,
    source_kind     VARCHAR NOT NULL,       -- live | file
    address         VARCHAR NOT NULL,       -- host:port (no user, no password); file: --server or file:PORT
    run_id          VARCHAR,                -- changes when the server restarts
    server_name     VARCHAR,                -- redis | valkey
    server_version  VARCHAR,
    redis_mode      VARCHAR,                -- standalone | cluster | sentinel
    info_section    VARCHAR,                -- everything | all | default | file
    uptime_s        BIGINT
);

-- INFO as written: one row per plain value, or per field of a k=v,k=v map (field/item_no set).
CREATE TABLE IF NOT EXISTS redis_info (
    snapshot_id  BIGINT NOT NULL,
    line_no      INTEGER NOT NULL,
    section      VARCHAR NOT NULL,      -- as the server wrote it ('' before any header)
    key          VARCHAR NOT NULL,      -- e.g. used_memory, cmdstat_config|get, db0
    field        VARCHAR,               -- map field (calls, usec, keys, p99...), NULL for plain values
    item_no      INTEGER,               -- position in the map (repeated fields keep their order)
    value_text   VARCHAR NOT NULL,
    value_num    DOUBLE                 -- NULL when the value is text (ids stay text); % -> number; 1.5M -> bytes
);

CREATE TABLE IF NOT EXISTS redis_slowlog (
    snapshot_id   BIGINT NOT NULL,
    entry_id      BIGINT NOT NULL,
    started_at    TIMESTAMPTZ,
    duration_us   BIGINT,
    command       VARCHAR,               -- arguments joined by spaces (secrets redacted)
    client_addr   VARCHAR,
    client_name   VARCHAR
);

-- Typed numbers per snapshot (counters as the server reported them, not deltas).
CREATE OR REPLACE VIEW redis_snapshot_stats AS
SELECT s.snapshot_id, s.taken_at, s.address, s.run_id, s.label, s.server_name, s.server_version,
       max(i.value_num) FILTER (WHERE i.key = 'uptime_in_seconds')          AS uptime_s,
       max(i.value_num) FILTER (WHERE i.key = 'keyspace_hits')              AS keyspace_hits,
       max(i.value_num) FILTER (WHERE i.key = 'keyspace_misses')            AS keyspace_misses,
       max(i.value_num) FILTER (WHERE i.key = 'evicted_keys')               AS evicted_keys,
       max(i.value_num) FILTER (WHERE i.key = 'expired_keys')               AS expired_keys,
       max(i.value_num) FILTER (WHERE i.key = 'total_commands_processed')   AS total_commands_processed,
       max(i.value_num) FILTER (WHERE i.key = 'total_connections_received') AS total_connections_received,
       max(i.value_num) FILTER (WHERE i.key = 'rejected_connections')       AS rejected_connections,
       max(i.value_num) FILTER (WHERE i.key = 'total_error_replies')        AS total_error_replies,
       max(i.value_num) FILTER (WHERE i.key = 'connected_clients')          AS connected_clients,
       max(i.value_num) FILTER (WHERE i.key = 'used_memory')                AS used_memory_bytes,
       max(i.value_num) FILTER (WHERE i.key = 'used_memory_rss')            AS used_memory_rss_bytes,
       max(i.value_num) FILTER (WHERE i.key = 'used_memory_peak')           AS used_memory_peak_bytes,
       max(i.value_num) FILTER (WHERE i.key = 'maxmemory')                  AS maxmemory_bytes,
       max(i.value_text) FILTER (WHERE i.key = 'maxmemory_policy')          AS maxmemory_policy,
       max(i.value_num) FILTER (WHERE i.key = 'mem_fragmentation_ratio')    AS mem_fragmentation_ratio
FROM redis_snapshots s
LEFT JOIN redis_info i ON i.snapshot_id = s.snapshot_id AND i.field IS NULL
GROUP BY ALL;

-- Commandstats: `cmdstat_<command>:calls=..,usec=..,usec_per_call=..[,rejected_calls=..,failed_calls=..]`.
CREATE OR REPLACE VIEW redis_commandstats AS
SELECT snapshot_id, substr(key, 9) AS command,
       max(value_num) FILTER (WHERE field = 'calls')          AS calls,
       max(value_num) FILTER (WHERE field = 'usec')           AS usec,
       max(value_num) FILTER (WHERE field = 'usec_per_call')  AS usec_per_call,
       max(value_num) FILTER (WHERE field = 'rejected_calls') AS rejected_calls,
       max(value_num) FILTER (WHERE field = 'failed_calls')   AS failed_calls
FROM redis_info
WHERE key LIKE 'cmdstat\_%' ESCAPE '\' AND field IS NOT NULL
GROUP BY snapshot_id, key;

-- Latencystats (Redis 7+): cumulative per-command percentiles since start / reset, in microseconds.
CREATE OR REPLACE VIEW redis_latency_percentiles AS
SELECT snapshot_id, substr(key, 26) AS command, field AS percentile, value_num AS usec
FROM redis_info
WHERE key LIKE 'latency\_percentiles\_usec\_%' ESCAPE '\' AND field IS NOT NULL;

-- Errorstats (Redis 6.2+): `errorstat_ERR:count=3`.
CREATE OR REPLACE VIEW redis_errorstats AS
SELECT snapshot_id, substr(key, 11) AS error, max(value_num) FILTER (WHERE field = 'count') AS count
FROM redis_info
WHERE key LIKE 'errorstat\_%' ESCAPE '\' AND field IS NOT NULL
GROUP BY snapshot_id, key;

-- Keyspace: `db0:keys=..,expires=..,avg_ttl=..`.
CREATE OR REPLACE VIEW redis_keyspace AS
SELECT snapshot_id, key AS db,
       max(value_num) FILTER (WHERE field = 'keys')    AS keys,
       max(value_num) FILTER (WHERE field = 'expires') AS expires,
       max(value_num) FILTER (WHERE field = 'avg_ttl') AS avg_ttl_ms
FROM redis_info
WHERE lower(section) = 'keyspace' AND field IS NOT NULL
GROUP BY snapshot_id, key;
