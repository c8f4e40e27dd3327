-- An update's changes to the record (inside its commit), from its folds' files: every
-- recorded id whose copies changed ($touched) goes; repeated_add.sql records them anew.
DELETE FROM usage_repeated_ids
WHERE event_id IN (SELECT event_id FROM {{touched}})
