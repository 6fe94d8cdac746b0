-- Write everything of an attached database into its main file, leaving no write-ahead log.
-- Placeholder: alias, the quoted name it is attached as.
CHECKPOINT {alias};
