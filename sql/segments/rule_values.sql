-- The values of checked rules (or of expressions generated from them) on every row of
-- rule_input, a polars frame registered with its row number as rule_row_index, in row order.
-- The placeholder rule_values is the list of generated expressions, aliased v0, v1, ...
SELECT rule_row_index, {rule_values}
FROM rule_input
ORDER BY rule_row_index
