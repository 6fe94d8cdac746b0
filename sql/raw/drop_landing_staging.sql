-- Forget the staging of a landing: its views, tables and the list of its staged files (every
-- statement is a no-op where there is nothing to drop). The views go first: they read the rest.
DROP VIEW IF EXISTS landing_stage;
DROP VIEW IF EXISTS landing_parsed;
DROP TABLE IF EXISTS landing_files;
DROP TABLE IF EXISTS landing_flagged;
DROP TABLE IF EXISTS landing_raw;
DROP TABLE IF EXISTS landing_raw_needed;
RESET VARIABLE landing_staged_files;
