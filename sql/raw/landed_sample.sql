-- The first $rows rows of the landed table <table>, for the asset's preview.
SELECT *
FROM {table}
LIMIT $rows;
