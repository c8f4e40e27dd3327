-- A scanned file's valid rows (curated columns and id_hash).
SELECT * FROM {{rows}} WHERE reason IS NULL
