-- raw.customer_attributes (the attribute history) as landed, as one Parquet file for Spark to
-- read ($path, VARCHAR): the behaviour step reads each snapshot's attributes from it. Custom
-- attributes declared pii stay as landed, as in export_customers.sql, because rules read them:
-- the lake needs the warehouse's access control.
COPY (SELECT * FROM raw.customer_attributes) TO $path (FORMAT parquet, COMPRESSION zstd);
