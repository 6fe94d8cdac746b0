-- The type of a rule's value (rule_value) bound against known_columns, an empty polars frame
-- with the known columns and their types; the placeholder rule is the rule's canonical SQL.
DESCRIBE SELECT (
{rule}
) AS rule_value FROM known_columns
