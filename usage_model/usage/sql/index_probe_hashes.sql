-- The distinct id hashes of {{ids}}, sorted: what phase one of a lookup searches for.
SELECT DISTINCT id_hash FROM {{ids}} ORDER BY id_hash
