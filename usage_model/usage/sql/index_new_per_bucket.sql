SELECT id_hash % $buckets, count(*) FROM index_new GROUP BY ALL
