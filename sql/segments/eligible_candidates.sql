-- The candidates that passed the eligibility rule (a registered frame), for association_pick.sql.
SELECT snapshot_date, customer_id, item, lift, support, confidence FROM eligible_candidates
