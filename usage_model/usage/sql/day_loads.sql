INSERT INTO usage_day_loads
SELECT d.day,
       count(c.outcome),
       count(*) FILTER (WHERE c.outcome = 'accepted'),
       count(*) FILTER (WHERE c.outcome = 'identical'),
       count(*) FILTER (WHERE c.outcome = 'conflict'),
       now()
FROM (SELECT unnest($days::DATE[]) AS day) d
LEFT JOIN build_rows c ON c.day = d.day
GROUP BY d.day
