-- The files the manifest had indexed when the update was planned (the plan's kept.parquet):
-- the rows of other files in the segments a fold reads are leaving the index.
CREATE OR REPLACE TEMP TABLE index_kept AS SELECT file_id FROM {{kept}}
