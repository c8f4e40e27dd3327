-- What the scan of one file found (its batches' tally, scan_begin.sql): rows, valid rows,
-- and the valid rows' day and time range.
SELECT coalesce(sum(rows), 0)::BIGINT, coalesce(sum(rows) FILTER (WHERE valid), 0)::BIGINT,
       min(day) FILTER (WHERE valid), max(day) FILTER (WHERE valid),
       min(min_occurred_at) FILTER (WHERE valid),
       max(max_occurred_at) FILTER (WHERE valid)
FROM scan_tally
