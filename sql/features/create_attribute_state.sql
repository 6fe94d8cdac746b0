-- The attribute state before the first snapshot: no customer has a history row yet. Each
-- snapshot advances it (advance_attribute_state.sql); customers_as_of.sql reads it.
CREATE OR REPLACE TEMP TABLE _attribute_state AS
SELECT * EXCLUDE (source_file, source_row) FROM raw.customer_attributes LIMIT 0;
