-- The id buckets the ids of a table fall in.
SELECT DISTINCT md5_number_lower(event_id) % $buckets FROM {{ids}}
