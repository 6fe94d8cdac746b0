-- The customers of a snapshot without an attribute-history source: raw.customers as it is (its
-- rows hold forever), for customer_activity.sql, which reads _customers_as_of.
CREATE OR REPLACE TEMP VIEW _customers_as_of AS
SELECT *, false AS known_by_attributes
FROM raw.customers;
