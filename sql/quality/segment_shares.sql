-- Per segment of the dimension column <dimension> of marts.customer_segments (its name also
-- given as the value $dimension), the share of customers in the snapshots $previous and $latest;
-- a segment missing from one snapshot has share 0 there.
WITH shares AS (
    SELECT
        snapshot_date,
        {dimension} AS segment,
        count(*) / sum(count(*)) OVER (PARTITION BY snapshot_date) AS share
    FROM marts.customer_segments
    WHERE snapshot_date IN ($latest, $previous)
    GROUP BY snapshot_date, {dimension}
)
SELECT
    $dimension AS dimension,
    segment,
    coalesce(max(share) FILTER (WHERE snapshot_date = $previous), 0) AS previous_share,
    coalesce(max(share) FILTER (WHERE snapshot_date = $latest), 0) AS share
FROM shares
GROUP BY segment;
