-- raw.events as landed, as one Parquet file for Spark to read ($path, VARCHAR). The columns
-- that only describe an event (channel, product, campaign) are null where the source declares
-- them personal data ($personal, VARCHAR[]: their canonical names): no feature reads them.
COPY (
    SELECT * REPLACE (
        CASE WHEN list_contains($personal::VARCHAR[], 'channel') THEN NULL ELSE channel END
            AS channel,
        CASE WHEN list_contains($personal::VARCHAR[], 'product_id') THEN NULL ELSE product_id END
            AS product_id,
        CASE WHEN list_contains($personal::VARCHAR[], 'campaign_id') THEN NULL ELSE campaign_id END
            AS campaign_id
    )
    FROM raw.events
) TO $path (FORMAT parquet, COMPRESSION zstd);
