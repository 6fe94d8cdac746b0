-- Back to DuckDB's default WAL size for checkpoints.
RESET checkpoint_threshold;
