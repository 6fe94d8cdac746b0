-- The counts the association rules of each snapshot are made of (association_candidates.sql),
-- over basket_rows (a registered frame: snapshot_date, customer_id, item; a null item is no
-- item, repeats count once; a customer with an empty basket is not a basket). One row per
-- snapshot, antecedent and consequent with its customers: both null, n (the customers with a
-- basket); the antecedent alone, n(a) (those whose basket holds a); both, n(a, c) (those
-- holding a and c, a <> c; every pair, before the rules' minimum support). Each count is of
-- customers, and a customer's basket is whole in one split of the customers, so the counts of
-- disjoint sets of customers add up: the Spark engine sums its partitions' counts.
WITH baskets AS (
    SELECT DISTINCT snapshot_date, customer_id, item
    FROM basket_rows
    WHERE item IS NOT NULL
)
SELECT snapshot_date, NULL::VARCHAR AS antecedent, NULL::VARCHAR AS consequent,
    count(DISTINCT customer_id) AS customers
FROM baskets
GROUP BY snapshot_date
UNION ALL
SELECT snapshot_date, item AS antecedent, NULL::VARCHAR AS consequent, count(*) AS customers
FROM baskets
GROUP BY snapshot_date, item
UNION ALL
SELECT a.snapshot_date, a.item AS antecedent, c.item AS consequent, count(*) AS customers
FROM baskets AS a
JOIN baskets AS c
    ON c.snapshot_date = a.snapshot_date AND c.customer_id = a.customer_id
    AND c.item <> a.item
GROUP BY a.snapshot_date, a.item, c.item
