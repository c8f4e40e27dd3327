-- Each built row is the winner (accepted), an identical copy of it, or a conflict
-- (docs/event-model.md rule 6).
-- A row whose id has no entry in `winners` is the id's only copy: accepted, its own winner.
CREATE OR REPLACE TEMP TABLE classified AS
SELECT b.*,
       CASE WHEN w.event_id IS NULL THEN 'accepted'
            WHEN b.source_file = w.winner_file AND b.source_row = w.winner_row THEN 'accepted'
            WHEN b.content_hash = w.winner_hash THEN 'identical'
            ELSE 'conflict' END AS outcome,
       coalesce(w.winner_file, b.source_file) AS winner_file,
       coalesce(w.winner_row, b.source_row) AS winner_row
FROM build_rows b
LEFT JOIN winners w USING (event_id)
