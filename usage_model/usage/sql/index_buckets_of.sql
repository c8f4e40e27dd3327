-- The id buckets the ids of a table (with its stored id_hash column) fall in.
SELECT DISTINCT id_hash % $buckets FROM {{ids}}
