-- Set the WAL size at which DuckDB checkpoints to $threshold (e.g. '256MB'), for this database.
SET checkpoint_threshold = $threshold;
