-- raw.customers as landed, as one Parquet file for Spark to read ($path, VARCHAR). Names,
-- e-mails and phones are null (the features never read them; the columns stay, so the
-- library's SQL that excludes them still runs); custom attributes declared pii stay as landed,
-- because attribute rules read them: the lake needs the warehouse's access control.
COPY (
    SELECT * REPLACE (NULL::VARCHAR AS name, NULL::VARCHAR AS email, NULL::VARCHAR AS phone)
    FROM raw.customers
) TO $path (FORMAT parquet, COMPRESSION zstd);
