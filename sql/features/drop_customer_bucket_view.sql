-- Drop the view of customer_bucket_view.sql and forget its file list once the buckets are done.
DROP VIEW IF EXISTS _customer_bucket_transactions;
RESET VARIABLE customer_bucket_files;
