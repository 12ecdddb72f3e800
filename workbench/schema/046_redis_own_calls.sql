-- The commands the collector itself sent around a live snapshot's INFO (JSON {command: calls}):
-- `before`: sent before INFO was read (AUTH, SELECT), so counted in this snapshot's commandstats;
-- `after`: sent after (INFO itself, SLOWLOG GET), so counted in the next one. redis stats subtracts
-- them, so the collector's own INFO / SLOWLOG calls do not show up as the server's workload.
ALTER TABLE redis_snapshots ADD COLUMN own_calls_before VARCHAR;
ALTER TABLE redis_snapshots ADD COLUMN own_calls_after VARCHAR;
