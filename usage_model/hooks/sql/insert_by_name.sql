-- The rows the caller registered (an Arrow table named like the target's columns).
INSERT INTO {{table}} BY NAME SELECT * FROM {{rows}}
