-- Name and type (and more) of each column of a view or table. Placeholder: relation, its name.
DESCRIBE SELECT * FROM {relation};
