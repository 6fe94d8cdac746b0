-- The sample rows rules are test-evaluated on (see segmentation/segments/rule_samples.py), one
-- at a time when a rule fails on them, to name the values that broke it.
SELECT * FROM sample_rows
