-- Settings of the in-memory connection rules are checked and evaluated on (opened with external
-- access disabled): no progress bar, as rules run inside pipeline steps whose output is a log.
SET enable_progress_bar = false;
