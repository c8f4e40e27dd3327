DELETE FROM usage_index_segments WHERE segment IN (SELECT unnest($names))
