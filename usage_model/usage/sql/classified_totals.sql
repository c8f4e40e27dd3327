SELECT count(*), count(*) FILTER (WHERE outcome = 'accepted'),
       count(*) FILTER (WHERE outcome = 'identical'),
       count(*) FILTER (WHERE outcome = 'conflict')
FROM build_rows
