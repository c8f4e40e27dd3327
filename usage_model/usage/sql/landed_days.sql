-- The days (in the zone $tz) a landed file's times fall on, from its one time column `t`;
-- times that are not times (text that does not parse, numbers) touch no day.
SELECT DISTINCT CAST(timezone($tz, TRY_CAST(t AS TIMESTAMPTZ)) AS DATE) AS day
FROM times
WHERE TRY_CAST(t AS TIMESTAMPTZ) IS NOT NULL
