-- Pairwise association rules over the baskets of each snapshot, and every item each customer
-- could be recommended. basket_rows (a registered frame: snapshot_date, customer_id, item) holds
-- what each customer has at each snapshot (the categories bought in the window, the products
-- held); a customer with an empty basket is not a basket. The placeholder counts is a query
-- with the rules' counts per snapshot (association_counts.sql over the same baskets, or
-- association_count_rows.sql: those counts summed over splits of the customers): n, the
-- customers with a basket, n(x) those whose basket holds x and n(a, c) those holding both.
-- The rule a -> c has support n(a, c), confidence P(c | a) = n(a, c) / n(a) and lift
-- P(c | a) / P(c) = n(a, c) * n / (n(a) * n(c)); it qualifies with support >= $min_support
-- (BIGINT) and lift >= $min_lift (DOUBLE). A customer's candidates are the consequents c of
-- the qualifying rules of the items a in their basket, c not in their basket, each with the
-- best of those rules: the highest lift, ties the higher support (for one c, n(c) / n is
-- fixed, so the highest lift is the highest confidence too). The counts are exact integers
-- and the lift and confidence each one division of exact products (below 2^53), so equal
-- rules compare equal and the result is deterministic.
-- Parameters: $min_support, $min_lift.
WITH baskets AS (
    SELECT DISTINCT snapshot_date, customer_id, item
    FROM basket_rows
    WHERE item IS NOT NULL
),
counts AS (
{counts}
),
customers AS (
    SELECT snapshot_date, customers AS n
    FROM counts
    WHERE antecedent IS NULL
),
items AS (
    SELECT snapshot_date, antecedent AS item, customers AS n_item
    FROM counts
    WHERE antecedent IS NOT NULL AND consequent IS NULL
),
pairs AS (
    SELECT snapshot_date, antecedent, consequent, customers AS support
    FROM counts
    WHERE consequent IS NOT NULL AND customers >= $min_support::BIGINT
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
