-- The id buckets the ids of a table (with its stored id_hash column) fall in.
-- ($buckets::UBIGINT: with a plain integer parameter the modulo would be 128-bit, ~40x slower.)
SELECT DISTINCT id_hash % $buckets::UBIGINT FROM {{ids}}
