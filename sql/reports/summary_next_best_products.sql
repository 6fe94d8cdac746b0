-- Run summary: customers per next best product at the latest snapshot, how many of them the
-- cross-sell rules ($rules: the playbook rules whose condition reads next_best_product)
-- assigned, and how many of those are the control group; largest first; no rows when no customer
-- has a next best product (no products held column, or nothing eligible).
SELECT
    s.next_best_product,
    count(*),
    count(*) FILTER (WHERE list_contains($rules, a.matched_rule)),
    count(*) FILTER (WHERE list_contains($rules, a.matched_rule) AND a.is_control)
FROM marts.customer_segments AS s
LEFT JOIN marts.strategy_assignments AS a USING (snapshot_date, customer_id)
WHERE s.snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments)
    AND s.next_best_product IS NOT NULL
GROUP BY ALL
ORDER BY 2 DESC, 1;
