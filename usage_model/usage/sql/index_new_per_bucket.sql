SELECT id_hash % $buckets::UBIGINT, count(*) FROM index_new GROUP BY ALL
