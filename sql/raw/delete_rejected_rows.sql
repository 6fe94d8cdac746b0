-- Forget this source's previous quarantine ($source) before the current one is inserted.
DELETE FROM quality.rejected_rows WHERE source = $source;
