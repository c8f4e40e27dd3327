-- No other copy: the copies table, empty, with its columns.
CREATE OR REPLACE TEMP TABLE {{target}} (event_id VARCHAR, id_hash UBIGINT, path VARCHAR,
                                        source_row BIGINT, day DATE, file_id BIGINT)
