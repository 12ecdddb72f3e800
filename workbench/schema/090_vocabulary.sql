-- One vocabulary for every report (docs/contract.md, "Vocabulary"): a k6 sample's `endpoint` and a PostgreSQL snapshot's
-- `server_key` are defined here once; workbench/schema/__init__.py holds the same two expressions for
-- the code that needs them outside a view (Spark, attached datasets), and a test keeps them equal.

-- endpoint: the sample's `name` tag, else its URL, else '(unnamed)'
CREATE OR REPLACE VIEW k6_points AS
SELECT run, ingest_id, metric, ts, value, status, method, name, url,
       coalesce(name, url, '(unnamed)') AS endpoint,
       scenario, group_name, expected_response, check_name, proto, error_code,
       map_from_entries(list_filter(map_entries(CAST(tags AS MAP(VARCHAR, VARCHAR))),
           lambda e: NOT list_contains(['status', 'method', 'name', 'url', 'scenario', 'group',
                                        'expected_response', 'check', 'proto', 'error_code'], e.key)))
           AS extra_tags,
       tags, metadata
FROM k6_samples;

-- server_key: which node and database a snapshot describes (a replica shares its primary's system
-- identifier, so host:port stays in the key); snapshots with one key are compared with each other
ALTER TABLE pg_snapshots ADD COLUMN IF NOT EXISTS server_key VARCHAR;
UPDATE pg_snapshots
   SET server_key = coalesce(system_identifier, '?') || '|' || host || ':' || port::VARCHAR || '/' || dbname
 WHERE server_key IS NULL;
