"""Attribute segments from configuration: one label per customer per attribute dimension.

A rule dimension labels each customer with the name of its first rule whose SQL condition is true
(NULL counts as false) and with the dimension's ``default`` when none is; a passthrough dimension
(``column:``) uses the column's value as text, or ``default`` when it is null. Rules were checked
when the settings were built; they are evaluated here with DuckDB over the polars frame.
"""

from __future__ import annotations

import polars as pl

from segmentation.segments.columns import attribute_column
from segmentation.segments.rule_evaluation import first_match_indices
from segmentation.segments.settings import SegmentSettings, compile_attribute_rules


def attribute_segments(features: pl.DataFrame, settings: SegmentSettings) -> pl.DataFrame:
    """Label every row of ``features`` on every configured attribute dimension.

    Args:
        features: ``features.customer_features`` rows, with any declared extra columns.
        settings: The segment settings holding the attribute dimensions.

    Returns:
        snapshot_date, customer_id and one String column ``attr_<dimension>`` per dimension, in
        the input's row order.

    Raises:
        KeyError: If a rule or passthrough dimension references a column ``features`` lacks.
    """
    compiled = compile_attribute_rules(settings)
    indices = first_match_indices(features, compiled)
    labels: list[pl.Series] = []
    for attribute in settings.attributes:
        name = attribute_column(attribute.dimension)
        if attribute.column is not None:
            if attribute.column not in features.columns:
                raise KeyError(
                    f"attribute dimension '{attribute.dimension}' needs column "
                    f"'{attribute.column}', which the features lack"
                )
            values = features.get_column(attribute.column).cast(pl.String)
            labels.append(values.fill_null(attribute.default).alias(name))
            continue
        rule_names = [rule.name for rule in attribute.rules or []]
        index = indices.get_column(attribute.dimension)
        labels.append(
            index.replace_strict(
                list(range(len(rule_names))),
                rule_names,
                default=attribute.default,
                return_dtype=pl.String,
            ).alias(name)
        )
    return features.select("snapshot_date", "customer_id").with_columns(labels)
