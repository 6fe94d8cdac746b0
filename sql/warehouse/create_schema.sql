-- Create a schema unless it exists. Placeholder: schema, its name.
CREATE SCHEMA IF NOT EXISTS {schema};
