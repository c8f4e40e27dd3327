-- Each built row is the winner (accepted), an identical copy of it, or a conflict (rule 6).
CREATE OR REPLACE TEMP TABLE classified AS
SELECT b.*,
       CASE WHEN b.source_file = w.winner_file AND b.source_row = w.winner_row THEN 'accepted'
            WHEN b.content_hash = w.winner_hash THEN 'identical'
            ELSE 'conflict' END AS outcome,
       w.winner_file, w.winner_row
FROM build_rows b
JOIN winners w USING (event_id)
