-- The newest $count snapshot dates of the table <table>, newest first.
SELECT DISTINCT snapshot_date
FROM {table}
ORDER BY snapshot_date DESC
LIMIT $count;
