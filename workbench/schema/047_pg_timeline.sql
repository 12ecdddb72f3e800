-- pg_snapshots.timeline_id: the WAL timeline a primary writes on (NULL on a replica or in older
-- snapshots). A promotion starts a new timeline, so a promoted replica that took over its primary's
-- name (same system identifier, host and port) is told apart from the primary it replaced.
ALTER TABLE pg_snapshots ADD COLUMN timeline_id INTEGER;
