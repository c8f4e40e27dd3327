CREATE OR REPLACE TEMP TABLE conflict_raw (source_file VARCHAR, source_row BIGINT, raw_json VARCHAR)
