"""Customer segmentation as a library: the pipeline's tables for a polars frame of transactions.

The functions below (from :mod:`segmentation.notebook`) compute, for one snapshot date, what the
pipeline writes for that month, with the same code and the same default settings:

- ``load_transactions(config)``, ``load_customers(config)``: a configured source, landed as
  the pipeline lands it, as a polars frame.
- ``customer_behaviour(transactions, as_of)``: recency, frequency, monetary and the other
  behaviour features.
- ``predict_clv(transactions, as_of)``: BG/NBD and Gamma-Gamma fitted on the snapshot; P(alive),
  expected purchases, 12-month CLV per customer and the fitted parameters.
- ``customer_features(transactions, as_of)``: lifecycle stage, value tier and ABC class.
- ``customer_segments(transactions, as_of)``: RFM scores and named RFM segments, loyalty, churn
  risk, attribute segments and clusters.
- ``assign_playbook(transactions, as_of)``: one playbook strategy per customer.
- ``snapshot(transactions, as_of)``: all of these for one date, each computed once.

Their settings default to the pipeline's: ``FeatureSettings``, ``SegmentSettings`` and the
bundled playbook (``load_playbook``). A frame lands as a source file would: rows the pipeline
quarantines (duplicates, unparseable or future timestamps, ...) are left out, listed with their
reasons in ``Snapshot.rejected`` and counted in an ``InputWarning``; a frame with a missing or
ill-typed column raises ``InputError`` naming it. The BTYD models themselves are in
:mod:`segmentation.btyd`.

The names are loaded on first use, so importing one module of the library (as the pipeline
does) does not load all of them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segmentation.features.clv import SnapshotClv
    from segmentation.features.settings import FeatureSettings
    from segmentation.notebook import (
        InputError,
        InputWarning,
        Snapshot,
        assign_playbook,
        customer_behaviour,
        customer_features,
        customer_segments,
        load_customers,
        load_transactions,
        predict_clv,
        snapshot,
    )
    from segmentation.segments.settings import SegmentSettings
    from segmentation.strategies.settings import Playbook, load_playbook

# public name -> the module defining it
_HOMES = {
    "InputError": "segmentation.notebook",
    "InputWarning": "segmentation.notebook",
    "Snapshot": "segmentation.notebook",
    "assign_playbook": "segmentation.notebook",
    "customer_behaviour": "segmentation.notebook",
    "customer_features": "segmentation.notebook",
    "customer_segments": "segmentation.notebook",
    "load_customers": "segmentation.notebook",
    "load_transactions": "segmentation.notebook",
    "predict_clv": "segmentation.notebook",
    "snapshot": "segmentation.notebook",
    "SnapshotClv": "segmentation.features.clv",
    "FeatureSettings": "segmentation.features.settings",
    "SegmentSettings": "segmentation.segments.settings",
    "Playbook": "segmentation.strategies.settings",
    "load_playbook": "segmentation.strategies.settings",
}

__all__ = [
    "FeatureSettings",
    "InputError",
    "InputWarning",
    "Playbook",
    "SegmentSettings",
    "Snapshot",
    "SnapshotClv",
    "assign_playbook",
    "customer_behaviour",
    "customer_features",
    "customer_segments",
    "load_customers",
    "load_playbook",
    "load_transactions",
    "predict_clv",
    "snapshot",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'segmentation' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
