-- Phase one's probe: the id hashes of {{ids}} (deduplicated and sorted by the caller).
SELECT id_hash FROM {{ids}}
