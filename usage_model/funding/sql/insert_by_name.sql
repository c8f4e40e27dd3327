-- Rows registered by the caller (an Arrow table with exactly the target's columns to fill).
INSERT INTO {{table}} BY NAME SELECT * FROM {{rows}}
