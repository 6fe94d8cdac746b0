-- Pairwise association rules over the baskets of each snapshot, and every item each customer
-- could be recommended. basket_rows (a registered frame: snapshot_date, customer_id, item) holds
-- what each customer has at each snapshot (the categories bought in the window, the products
-- held); a customer with an empty basket is not a basket. For each snapshot, with n the
-- customers with a basket, n(x) those whose basket holds x and n(a, c) those holding both:
-- the rule a -> c has support n(a, c), confidence P(c | a) = n(a, c) / n(a) and lift
-- P(c | a) / P(c) = n(a, c) * n / (n(a) * n(c)); it qualifies with support >= $min_support (BIGINT) and lift >= $min_lift (DOUBLE). A
-- customer's candidates are the consequents c of the qualifying rules of the items a in their
-- basket, c not in their basket, each with the best of those rules: the highest lift, ties
-- the higher support (for one c, n(c) / n is fixed, so the highest lift is the highest
-- confidence too). The counts are exact integers and the lift and confidence each one
-- division of exact products (below 2^53), so equal rules compare equal and the result is
-- deterministic.
-- Parameters: $min_support, $min_lift.
WITH baskets AS (
    SELECT DISTINCT snapshot_date, customer_id, item
    FROM basket_rows
    WHERE item IS NOT NULL
),
customers AS (
    SELECT snapshot_date, count(DISTINCT customer_id) AS n
    FROM baskets
    GROUP BY snapshot_date
),
items AS (
    SELECT snapshot_date, item, count(*) AS n_item
    FROM baskets
    GROUP BY snapshot_date, item
),
pairs AS (
    SELECT a.snapshot_date, a.item AS antecedent, c.item AS consequent, count(*) AS support
    FROM baskets AS a
    JOIN baskets AS c
        ON c.snapshot_date = a.snapshot_date AND c.customer_id = a.customer_id
        AND c.item <> a.item
    GROUP BY a.snapshot_date, a.item, c.item
    HAVING count(*) >= $min_support::BIGINT
),
rules AS (
    SELECT p.snapshot_date, p.antecedent, p.consequent, p.support,
        (p.support::DOUBLE * n.n::DOUBLE) / (ia.n_item::DOUBLE * ic.n_item::DOUBLE) AS lift,
        p.support::DOUBLE / ia.n_item::DOUBLE AS confidence
    FROM pairs AS p
    JOIN customers AS n ON n.snapshot_date = p.snapshot_date
    JOIN items AS ia ON ia.snapshot_date = p.snapshot_date AND ia.item = p.antecedent
    JOIN items AS ic ON ic.snapshot_date = p.snapshot_date AND ic.item = p.consequent
),
best AS (
    SELECT b.snapshot_date, b.customer_id, r.consequent AS item,
        max({'lift': r.lift, 'support': r.support, 'confidence': r.confidence}) AS rule
    FROM baskets AS b
    JOIN rules AS r ON r.snapshot_date = b.snapshot_date AND r.antecedent = b.item
    ANTI JOIN baskets AS h
        ON h.snapshot_date = b.snapshot_date AND h.customer_id = b.customer_id
        AND h.item = r.consequent
    WHERE r.lift >= $min_lift::DOUBLE
    GROUP BY b.snapshot_date, b.customer_id, r.consequent
)
SELECT snapshot_date, customer_id, item, rule.lift AS lift, rule.support AS support,
    rule.confidence AS confidence
FROM best
