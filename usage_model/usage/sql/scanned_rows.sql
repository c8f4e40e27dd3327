-- A scanned file's valid rows with the content hash split in two 64-bit halves.
SELECT *,
       (content_hash >> 64)::UBIGINT AS content_hash_hi,
       (content_hash & 18446744073709551615)::UBIGINT AS content_hash_lo
FROM {{rows}}
WHERE reason IS NULL
