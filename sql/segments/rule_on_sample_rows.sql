-- A rule evaluated on sample rows (NULL counts as false), to refuse it when it fails on values
-- its columns can hold: $rows (VARCHAR) names the registered frame read, every sample row or
-- one of them. The placeholder rule is the rule's canonical SQL.
SELECT coalesce((
{rule}
), false)
FROM query_table($rows::VARCHAR)
