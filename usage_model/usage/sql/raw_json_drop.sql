DROP VIEW raw_json_rows
