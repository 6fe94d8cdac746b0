-- Drop the working relations of customers_as_of.sql (or customers_without_history.sql) and
-- of the attribute state (create_attribute_state.sql, advance_attribute_state.sql).
DROP VIEW IF EXISTS temp._customers_as_of;
DROP TABLE IF EXISTS temp._attribute_state;
