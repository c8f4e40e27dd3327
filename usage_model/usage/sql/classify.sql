-- Each built row is the winner (accepted), an identical copy of it, or a conflict
-- (docs/event-model.md rule 6). A row is accepted unless copy_outcomes says otherwise: an id
-- with a single copy has no entry there (most rows), so only the later copies are updated.
UPDATE build_rows b SET outcome = o.outcome
FROM copy_outcomes o
WHERE o.outcome <> 'accepted' AND b.source_file = o.source_file AND b.source_row = o.source_row
