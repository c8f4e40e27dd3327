-- One bucket range's ids whose recorded copies go: every recorded id whose copies change
-- (index_touched) is recorded anew by repeated_come.sql.
INSERT INTO repeated_gone
SELECT DISTINCT r.event_id FROM usage_repeated_ids r
SEMI JOIN index_touched t ON t.id_hash = r.id_hash AND t.event_id = r.event_id
