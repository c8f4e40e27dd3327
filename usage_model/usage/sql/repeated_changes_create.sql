-- One fold's copies of repeated ids that come into the record (sql/repeated_come.sql).
CREATE OR REPLACE TEMP TABLE repeated_come (
    event_id VARCHAR, id_hash UBIGINT, day DATE, file_id BIGINT, source_row BIGINT)
