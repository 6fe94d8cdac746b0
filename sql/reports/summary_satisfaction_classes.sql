-- Run summary: customers per satisfaction class at the latest snapshot, with how many of them
-- are NPS promoters and detractors and how many complained in the complaint window; no rows
-- when no feedback source was configured (every customer's satisfaction is unknown).
SELECT
    satisfaction_class,
    count(*),
    count(*) FILTER (WHERE nps_class = 'promoter'),
    count(*) FILTER (WHERE nps_class = 'detractor'),
    count(*) FILTER (WHERE complaints_90d > 0)
FROM marts.customer_segments
WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments)
    AND EXISTS (
        SELECT 1 FROM marts.customer_segments AS latest
        WHERE latest.snapshot_date = customer_segments.snapshot_date
            AND latest.satisfaction_class <> 'unknown'
    )
GROUP BY ALL
ORDER BY 2 DESC, 1;
