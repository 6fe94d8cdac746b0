-- One customer bucket's transactions as the view the increments query reads for that bucket
-- ($transactions = '_customer_bucket_transactions'): the files named in the variable
-- customer_bucket_files (set_customer_bucket_files.sql), listed rather than globbed, as a
-- temp_directory path may hold glob characters.
CREATE OR REPLACE TEMP VIEW _customer_bucket_transactions AS
SELECT * FROM read_parquet(getvariable('customer_bucket_files'), hive_partitioning = false);
