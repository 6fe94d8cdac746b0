-- The recommendation of each customer of each snapshot: of the candidates (the placeholder
-- candidates is a query with snapshot_date, customer_id, item, lift, support:
-- association_candidates.sql, or its rows that passed the eligibility rule), the one with the
-- highest lift; ties: the higher support, then the item first by name. Sorted by snapshot and
-- customer.
SELECT snapshot_date, customer_id, item, lift, support
FROM ({candidates})
QUALIFY row_number() OVER (
    PARTITION BY snapshot_date, customer_id ORDER BY lift DESC, support DESC, item
) = 1
ORDER BY snapshot_date, customer_id
