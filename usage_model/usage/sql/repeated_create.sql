-- The record of repeated ids (id_index.py): every index row of an event_id that has more
-- than one copy in the index, kept by the index update in the commit that swaps its segments,
-- so a build finds the copies outside its window here instead of reading the segments.
-- Created, and filled from the segments, by the first update that finds it missing.
CREATE TABLE usage_repeated_ids (
    event_id    VARCHAR NOT NULL,
    id_hash     UBIGINT NOT NULL,            -- md5_number_lower(event_id), as in the index
    day         DATE NOT NULL,
    file_id     BIGINT NOT NULL,
    source_row  BIGINT NOT NULL
)
