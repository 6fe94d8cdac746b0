-- Every row of the table <table>, read in batches to validate it with its contract.
SELECT *
FROM {table};
