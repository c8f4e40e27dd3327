SELECT count(*) FROM index_new
