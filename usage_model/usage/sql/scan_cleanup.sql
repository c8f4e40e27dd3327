-- One batch's rows, once added to the file's tally and scanned rows.
DROP VIEW raw_json_rows;
DROP TABLE scan_rows;
