-- The recommendation of each customer of each snapshot: of the candidates (the placeholder
-- candidates is a query with snapshot_date, customer_id, item, lift, support, confidence:
-- association_candidates.sql, or its rows that passed the eligibility rule), the one ranked
-- first by $rank_by ('confidence': the highest confidence, ties the higher support, the
-- better evidence; 'lift': the highest lift, ties the higher support); further ties: the
-- higher lift, then the item first by name. Sorted by snapshot and customer.
SELECT snapshot_date, customer_id, item, lift, support
FROM ({candidates})
QUALIFY row_number() OVER (
    PARTITION BY snapshot_date, customer_id
    ORDER BY CASE WHEN $rank_by = 'lift' THEN lift ELSE confidence END DESC, support DESC,
        lift DESC, item
) = 1
ORDER BY snapshot_date, customer_id
