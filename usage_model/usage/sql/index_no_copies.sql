-- No other copy: the copies table, empty, with its columns.
CREATE OR REPLACE TEMP TABLE {{target}} (event_id VARCHAR, path VARCHAR, source_row BIGINT,
                                        content_hash UHUGEINT, day DATE, file_id BIGINT)
