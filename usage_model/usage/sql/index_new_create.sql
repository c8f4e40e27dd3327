CREATE OR REPLACE TEMP TABLE index_new (
    id_hash UBIGINT, event_id VARCHAR, day DATE, file_id BIGINT, source_row BIGINT)
