DROP VIEW raw_json_rows;
DROP TABLE scan_rows;
