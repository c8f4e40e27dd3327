-- Phase one of an index lookup: which of the ids' 8-byte hashes occur in the bucket segments
-- `$segments`. Only the id_hash column is read, so this scan stays narrow as the history
-- grows; the exact rows are read in phase two (index_copies.sql) for these alone.
SELECT DISTINCT i.id_hash
FROM {{segments}} i
WHERE i.id_hash IN (SELECT id_hash FROM {{ids}})
