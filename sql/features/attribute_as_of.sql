-- One column of customers_as_of.sql that both raw.customers (c) and the attribute state (s)
-- have: the state's value where the customer has a history row by the snapshot (a null there
-- is the history's value too), else the customers source's.
CASE WHEN s.customer_id IS NULL THEN c.{column} ELSE s.{column} END AS {column}
