-- One column of customers_as_of.sql that one side has: raw.customers (c) or the attribute
-- state (s), as the placeholder relation says.
{relation}.{column} AS {column}
