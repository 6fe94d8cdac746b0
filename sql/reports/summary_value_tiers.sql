-- Run summary: customers, net revenue and average 12-month CLV per value tier at the latest
-- snapshot, largest revenue first.
SELECT value_tier, count(*), round(sum(net_revenue), 2), round(avg(clv_12m), 2)
FROM features.customer_features
WHERE snapshot_date = (SELECT max(snapshot_date) FROM features.customer_features)
GROUP BY ALL
ORDER BY 3 DESC;
