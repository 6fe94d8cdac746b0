"""The columns of ``features.customer_features`` that the segments of a configuration read.

A features month holds every column of the features layer: 75 and more, and at 7.25M customers
3.7 GB as a polars frame, of which a configuration's segments use about half. Reading only
those keeps the rest out of memory while the segments are computed and written.

The list is safe to read by because every step that reads a features column fails on a missing
one: polars and the rule engine name it. The exception is the events, feedback and category
columns, which :func:`~segmentation.segments.source_labels.with_source_columns` adds as nulls
to a frame written before they existed: those are always on the list, and the read leaves out
only those that hold no value in the month (:func:`~segmentation.monthly.read_segment_features`),
which the segments then take as the nulls they hold.
"""

from __future__ import annotations

from segmentation.keys import KEY_COLUMNS
from segmentation.segments.build import SUMMARY_REVENUE_COLUMN
from segmentation.segments.category_settings import (
    PRODUCT_RULE_COLUMNS,
    compile_eligibility,
    compile_psychographic_rules,
)
from segmentation.segments.clusters import CLUSTER_FEATURES
from segmentation.segments.columns import KEY_FEATURE_COLUMNS, SOURCE_FEATURE_COLUMNS
from segmentation.segments.labels import PASSTHROUGH_LABELS
from segmentation.segments.settings import (
    SegmentSettings,
    compile_attribute_rules,
    feature_column_ranges,
)


def segment_feature_columns(settings: SegmentSettings) -> frozenset[str]:
    """Every ``features.customer_features`` column that
    :func:`~segmentation.segments.build.build_customer_segments` and
    :func:`~segmentation.segments.build.summarize_segments` read under ``settings``: the keys,
    the key features, the passed-through labels, the RFM and cluster inputs, the events,
    feedback and category columns, the passthrough attribute columns, the held-products column
    and every column a rule names (an extra column no rule names is not read).

    A features frame of only these columns gives the same segments and summary as the whole
    frame (``tests/unit/test_segment_inputs.py``).
    """
    known, ranges = settings.known_columns(), feature_column_ranges()
    rules = [
        *(rule for checked in compile_attribute_rules(settings).values() for rule in checked),
        *compile_psychographic_rules(settings.psychographics, known, ranges),
    ]
    rule_columns = {column for rule in rules for column in rule.columns}
    eligibility = compile_eligibility(settings.recommendations, known, ranges)
    if eligibility is not None:
        # its product_* columns are the catalogue's (no customer column may be named so then)
        rule_columns |= {
            column for column in eligibility.columns if column not in PRODUCT_RULE_COLUMNS
        }
    passthrough = {attribute.column for attribute in settings.attributes if attribute.column}
    held = settings.recommendations.products_held_column
    return frozenset(
        {
            *KEY_COLUMNS,
            *KEY_FEATURE_COLUMNS,
            *PASSTHROUGH_LABELS,
            *CLUSTER_FEATURES,
            settings.rfm.frequency,
            settings.rfm.monetary,
            SUMMARY_REVENUE_COLUMN,
            *SOURCE_FEATURE_COLUMNS,
            *passthrough,
            *([held] if held else []),
            *rule_columns,
        }
    )
