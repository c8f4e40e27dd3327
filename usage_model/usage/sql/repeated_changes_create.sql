-- What one update changes in the record, gathered over its bucket ranges and applied in its
-- commit: the ids whose recorded copies go, and the copies of repeated ids that come in.
CREATE OR REPLACE TEMP TABLE repeated_gone (event_id VARCHAR);
CREATE OR REPLACE TEMP TABLE repeated_come (
    event_id VARCHAR, id_hash UBIGINT, day DATE, file_id BIGINT, source_row BIGINT)
