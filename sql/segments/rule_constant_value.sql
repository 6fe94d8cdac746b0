-- Whether a checked rule that names no column is true (NULL counts as false); the placeholder
-- rule is its canonical SQL.
SELECT coalesce(({rule}), false)
