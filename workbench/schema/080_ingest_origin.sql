-- Where an ingest's data comes from: 'sample' (the bundled samples, `workbench demo`), 'lab' (`workbench lab
-- run`), NULL (the user's own data). Reports show the lab caveat only for data of the first two kinds.
ALTER TABLE ingests ADD COLUMN IF NOT EXISTS origin VARCHAR;
-- Stores from before the column: the demo's store holds samples only; postgres samples were named sample:...
UPDATE ingests SET origin = 'sample'
 WHERE source LIKE 'sample:%'
    OR EXISTS (SELECT 1 FROM store_meta WHERE key = 'made_by' AND value = 'workbench demo');
