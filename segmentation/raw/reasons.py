"""Why a source row does not land: each quarantine reason and the check it failed, in words.

The order of each mapping is the order the checks apply: a row gets the reason of the first
check it fails.
"""

from __future__ import annotations

# reasons a record gets before it is parsed into columns: it is not a well-formed CSV record
STRUCTURAL_REASONS: dict[str, str] = {
    "malformed_record": "the record has as many fields as the header",
    "unbalanced_quote": (
        "quotes are balanced: a quoted field is closed before the next delimiter or line end, "
        "and no quote stands inside an unquoted field"
    ),
    "nul_byte": "the record holds no NUL byte (a sign of a damaged file)",
    "truncated_file": (
        "the file is complete (a compressed file that breaks off lands up to the break; "
        "the rest is this one entry)"
    ),
}
# reason code -> the check that failed, in words; the order is the order checks apply.
TRANSACTION_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "missing_timestamp": "order_ts is present",
    "unparseable_timestamp": "order_ts parses as a timestamp",
    "unparseable_number": "quantity, unit_price and amount parse as numbers",
    "missing_amount": "amount is present or quantity and unit_price are",
    "non_finite_amount": "amount, quantity and unit_price are finite",
    "amount_out_of_range": "amount is under 1e28 in magnitude (exact sums hold 28 integer digits)",
    "timestamp_before_1970": "order_ts is on or after 1970-01-01",
    "timestamp_in_future": "order_ts is not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
}
CUSTOMER_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "unparseable_date": "signup_date and birth_date parse as dates",
    "unparseable_number": "income and numeric custom attributes parse as numbers",
    "unparseable_value": "boolean custom attributes parse as true/false",
    "non_finite_number": "income is finite and not negative",
    "date_in_future": "signup_date and birth_date are not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
    "duplicate_customer_id": "customer_id appears once (the first row is kept)",
}
EVENT_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "missing_timestamp": "event_ts is present",
    "unparseable_timestamp": "event_ts parses as a timestamp",
    "unknown_event_type": "event_type is one of the values mapped under event_types",
    "timestamp_before_1970": "event_ts is on or after 1970-01-01",
    "timestamp_in_future": "event_ts is not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
}
FEEDBACK_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "missing_timestamp": "feedback_ts is present",
    "unparseable_timestamp": "feedback_ts parses as a timestamp",
    "unknown_feedback_kind": "kind is one of the values mapped under kinds",
    "unparseable_number": "score parses as a number",
    "missing_score": "an nps or csat row has a score",
    "score_out_of_range": (
        "score is finite; an nps score is an integer from 0 to 10, a csat score within "
        "csat_scale, a review rating within review_scale"
    ),
    "timestamp_before_1970": "feedback_ts is on or after 1970-01-01",
    "timestamp_in_future": "feedback_ts is not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
}
ATTRIBUTE_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "missing_timestamp": "valid_from is present",
    "unparseable_timestamp": "valid_from parses as a timestamp",
    "timestamp_before_1970": "valid_from is on or after 1970-01-01",
    "timestamp_in_future": "valid_from is not after the landing run",
    "unparseable_date": "date attributes parse as dates",
    "unparseable_number": "income and numeric custom attributes parse as numbers",
    "unparseable_value": "boolean custom attributes parse as true/false",
    "non_finite_number": "income is finite and not negative",
    "date_in_future": "signup_date and birth_date are not after the landing run",
    "duplicate_row": (
        "row does not repeat an earlier row: exactly, or in every landed value for the same "
        "customer and valid_from (the first is kept)"
    ),
    "conflicting_attribute_rows": (
        "one set of values per customer and valid_from (rows that disagree are all rejected)"
    ),
}
PRODUCT_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_product_id": "product_id is present",
    "missing_category": "category is present",
    "duplicate_row": (
        "row does not repeat an earlier row: exactly, or in every landed value for the same "
        "product_id (the first is kept)"
    ),
    "conflicting_product_rows": (
        "one set of values per product_id (rows that disagree are all rejected)"
    ),
}
# source -> its reasons, in the order its checks apply
REASONS: dict[str, dict[str, str]] = {
    "transactions": TRANSACTION_REASONS,
    "customers": CUSTOMER_REASONS,
    "events": EVENT_REASONS,
    "feedback": FEEDBACK_REASONS,
    "customer_attributes": ATTRIBUTE_REASONS,
    "products": PRODUCT_REASONS,
}
