-- The quarantine: every source row that did not land, with the reason and the original values.
CREATE SCHEMA IF NOT EXISTS quality;
CREATE TABLE IF NOT EXISTS quality.rejected_rows (
    source      VARCHAR   NOT NULL,
    source_file VARCHAR   NOT NULL,
    source_row  BIGINT    NOT NULL,
    reason      VARCHAR   NOT NULL,
    "check"     VARCHAR   NOT NULL,
    raw_values  VARCHAR   NOT NULL,
    rejected_at TIMESTAMP NOT NULL
);
