-- raw.feedback as landed, as one Parquet file for Spark to read ($path, VARCHAR). The topic is
-- null where the source declares it personal data ($personal, VARCHAR[]: canonical names): no
-- feature reads it. The source file and row stay: they order answers given at one instant.
COPY (
    SELECT * REPLACE (
        CASE WHEN list_contains($personal::VARCHAR[], 'topic') THEN NULL ELSE topic END AS topic
    )
    FROM raw.feedback
) TO $path (FORMAT parquet, COMPRESSION zstd);
