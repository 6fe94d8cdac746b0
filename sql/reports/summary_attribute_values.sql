-- Run summary: customers per value of one attribute dimension (the placeholder column, an
-- attr_<dimension> column) at the latest snapshot, largest first; no rows when the column is
-- null throughout the snapshot (a dimension the configuration no longer has: columns are never
-- dropped).
SELECT {column}, count(*)
FROM marts.customer_segments
WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments)
    AND {column} IS NOT NULL
GROUP BY ALL
ORDER BY 2 DESC, 1;
