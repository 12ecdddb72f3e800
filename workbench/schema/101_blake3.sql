-- k6 points files (hundreds of MB each) are fingerprinted with BLAKE3, which `b3sum FILE` prints too:
-- sha256 costs about five times the CPU, and on a small machine that CPU is taken from DuckDB's parse of
-- the same file. Summaries and other sources keep sha256; ingests from before keep theirs (a re-ingest
-- of such a file is still recognised: the ingest then computes sha256 as well).
ALTER TABLE ingests ADD COLUMN IF NOT EXISTS blake3 VARCHAR;
