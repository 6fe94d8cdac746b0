-- The customers of a snapshot with their attributes as of it, for customer_activity.sql: every
-- raw.customers row and every customer with an attribute-history row by the snapshot
-- (_attribute_state, as advance_attribute_state.sql left it for the snapshot). Placeholder
-- columns: the attribute columns, each built by attribute_as_of.sql (an attribute both sources
-- have: the history's value from the customer's first history row on, the customers source's
-- before; its rows hold forever) or attribute_column.sql (one source has it).
-- known_by_attributes: the customer has a history row by then, so is a known customer even
-- without a transaction or a customers row.
CREATE OR REPLACE TEMP VIEW _customers_as_of AS
SELECT
    coalesce(c.customer_id, s.customer_id) AS customer_id,
    {columns},
    s.customer_id IS NOT NULL AS known_by_attributes
FROM raw.customers AS c
FULL JOIN _attribute_state AS s ON s.customer_id = c.customer_id;
