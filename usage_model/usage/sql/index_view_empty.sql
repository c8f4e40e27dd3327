SELECT NULL::UBIGINT AS id_hash, NULL::VARCHAR AS event_id, NULL::DATE AS day,
       NULL::BIGINT AS file_id, NULL::BIGINT AS source_row
WHERE false
