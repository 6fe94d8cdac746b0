-- The counts of association_counts.sql computed apart and registered (association_count_rows:
-- snapshot_date, antecedent, consequent, customers), for association_candidates.sql: the Spark
-- engine's sums of its partitions' counts.
SELECT snapshot_date, antecedent, consequent, customers FROM association_count_rows
