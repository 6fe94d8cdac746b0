"""The true parameters of the events, the feedback and the satisfaction classes, as recorded in
``true_params.json`` (under ``satisfaction``, ``engagement`` and ``feedback``), and the source
configuration that reads the generated files."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from synthetic.emails import campaigns
from synthetic.engagement import EVENT_KINDS, EVENT_VALUES
from synthetic.feedback import FEEDBACK_KINDS
from synthetic.satisfaction import structural_truth
from synthetic.settings import SATISFACTION_CLASSES, GeneratorConfig
from synthetic.voice import month_starts

#: The canonical column -> the generated files' column (the ``columns`` of each source).
EVENT_COLUMNS = {
    "customer_id": "user_id",
    "event_ts": "ts",
    "event_type": "event",
    "channel": "channel",
    "product_id": "sku",
    "campaign_id": "campaign",
}
FEEDBACK_COLUMN_MAP = {
    "customer_id": "cust",
    "feedback_ts": "date",
    "kind": "type",
    "score": "score",
    "topic": "topic",
}
# the NPS classes by score (promoter 9-10, passive 7-8, detractor 0-6), in class order
_NPS_RANGES = ((9, 10), (7, 8), (0, 6))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _nps_confusion(cfg: GeneratorConfig) -> dict[str, dict[str, float]]:
    """P(the class an NPS score shows | the latent class), noise included."""
    fb = cfg.feedback
    weights = np.asarray(fb.nps_weights, dtype=np.float64)
    weights /= weights.sum(axis=1, keepdims=True)
    shown = np.stack([weights[:, lo : hi + 1].sum(axis=1) for lo, hi in _NPS_RANGES], axis=1)
    adjacent = np.array([[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
    mixed = (1 - fb.nps_noise) * shown + fb.nps_noise * adjacent @ shown
    return {
        latent: dict(zip(SATISFACTION_CLASSES, map(float, row), strict=True))
        for latent, row in zip(SATISFACTION_CLASSES, mixed, strict=True)
    }


def _mean_scores(table: tuple[tuple[float, ...], ...], base: int) -> dict[str, float]:
    weights = np.asarray(table, dtype=np.float64)
    weights /= weights.sum(axis=1, keepdims=True)
    means = weights @ (base + np.arange(weights.shape[1]))
    return dict(zip(SATISFACTION_CLASSES, map(float, means), strict=True))


def _satisfaction(cfg: GeneratorConfig, counts: dict[str, float]) -> dict[str, Any]:
    prm, fb = cfg.params, cfg.feedback
    truth = structural_truth(
        fb.detractor_dropout_factor, cfg.satisfaction_effect, prm.a, prm.b, fb.class_shares
    )
    truth["detractor_dropout_factor"] = fb.detractor_dropout_factor
    realized: dict[str, Any] = {}
    monthly: dict[str, float | None] = {}
    for name in SATISFACTION_CLASSES:
        c = {
            k: counts.get(f"satisfaction.{k}.{name}", 0)
            for k in (
                "customers",
                "purchasers",
                "sum_p_dropout",
                "alive_month_ends",
                "dropouts_next_month",
            )
        }
        monthly[name] = _ratio(c["dropouts_next_month"], c["alive_month_ends"])
        realized[name] = {
            "customers": int(c["customers"]),
            "purchasers": int(c["purchasers"]),
            "mean_p_dropout": _ratio(c["sum_p_dropout"], c["customers"]),
            "alive_month_ends": int(c["alive_month_ends"]),
            "dropouts_next_month": int(c["dropouts_next_month"]),
            "monthly_dropout_rate": monthly[name],
        }
    pro, det = realized["promoter"], realized["detractor"]
    truth["realized"] = {
        **realized,
        "mean_p_ratio_detractor_promoter": _ratio(
            det["mean_p_dropout"] or 0.0, pro["mean_p_dropout"] or 0.0
        ),
        "monthly_dropout_ratio_detractor_promoter": _ratio(
            monthly["detractor"] or 0.0, monthly["promoter"] or 0.0
        ),
    }
    if cfg.with_feedback:
        truth["realized"]["by_answered_class"] = _by_answered_class(cfg, counts)
    return truth


def _by_answered_class(cfg: GeneratorConfig, counts: dict[str, float]) -> dict[str, Any]:
    """The monthly dropout by the class of the latest NPS answer (respondents only), per month
    end that has a next one, and its detractor / promoter ratio over all of them."""
    _, labels = month_starts(cfg)
    months = labels[:-1]
    out: dict[str, Any] = {"months": months}
    rates: dict[str, float | None] = {}
    for name in SATISFACTION_CLASSES:
        per_month = {
            key: [
                int(counts.get(f"satisfaction.answered.{k}.{key}.{name}", 0))
                for k in range(len(months))
            ]
            for key in ("alive_month_ends", "dropouts_next_month")
        }
        rates[name] = _ratio(
            sum(per_month["dropouts_next_month"]), sum(per_month["alive_month_ends"])
        )
        out[name] = {**per_month, "monthly_dropout_rate": rates[name]}
    out["monthly_dropout_ratio_detractor_promoter"] = _ratio(
        rates["detractor"] or 0.0, rates["promoter"] or 0.0
    )
    return out


def _engagement(cfg: GeneratorConfig, counts: dict[str, float]) -> dict[str, Any]:
    eng, fb = cfg.engagement, cfg.feedback
    camp_s, _ = campaigns(cfg)
    unsub = sum(s * u for s, u in zip(fb.class_shares, eng.unsubscribe_share, strict=True))
    event_counts = {kind: int(counts.get(f"events.{kind}", 0)) for kind in EVENT_KINDS}
    recipients = int(counts.get("events.email_recipients", 0))
    unsubscribed = int(counts.get("events.unsubscribed_customers", 0))
    dirty = {
        k.removeprefix("events.dirty_"): int(v)
        for k, v in counts.items()
        if k.startswith("events.dirty_")
    }
    return {
        "source": {
            "path": "events/*.parquet",
            "columns": EVENT_COLUMNS,
            "event_types": {k: [v] for k, v in zip(EVENT_KINDS, EVENT_VALUES, strict=True)},
        },
        "settings": dataclasses.asdict(eng),
        "expected": {
            "browse_to_buy": eng.browse_to_buy,
            "browse_sessions_per_repeat_purchase": (1 - eng.browse_to_buy) / eng.browse_to_buy,
            "email_open_rate": eng.open_rate,
            "email_click_rate": eng.click_rate,
            "unsubscribe_share": unsub,
            "unsubscribe_share_by_class": dict(
                zip(SATISFACTION_CLASSES, eng.unsubscribe_share, strict=True)
            ),
            "campaigns": int(camp_s.size),
        },
        "counts": {
            **event_counts,
            "events": sum(event_counts.values()),
            "rows_written": int(counts.get("events.rows_written", 0)),
            "email_recipients": recipients,
            "unsubscribed_customers": unsubscribed,
        },
        "realized": {"unsubscribe_share": _ratio(unsubscribed, recipients)},
        "dirty_rows": dirty,
    }


def _feedback(cfg: GeneratorConfig, counts: dict[str, float]) -> dict[str, Any]:
    fb = cfg.feedback
    dirty = {
        k.removeprefix("feedback.dirty_"): int(v)
        for k, v in counts.items()
        if k.startswith("feedback.dirty_")
    }
    kind_counts = {kind: int(counts.get(f"feedback.{kind}", 0)) for kind in FEEDBACK_KINDS}
    return {
        "source": {
            "path": "feedback.csv",
            "columns": FEEDBACK_COLUMN_MAP,
            "kinds": {kind: [kind] for kind in FEEDBACK_KINDS},
            "csat_scale": [1, 5],
            "review_scale": [1, 5],
        },
        "settings": dataclasses.asdict(fb),
        "expected": {
            "answers_per_order": {
                "nps": fb.nps_survey_rate * fb.nps_response_rate,
                "csat": fb.csat_survey_rate * fb.csat_response_rate,
                "review": fb.review_rate,
            },
            "complaints_per_order": dict(zip(SATISFACTION_CLASSES, fb.complaint_rate, strict=True)),
            "nps_class_shown_given_latent": _nps_confusion(cfg),
            "mean_nps_score": _mean_scores(fb.nps_weights, 0),
            "mean_csat": _mean_scores(fb.csat_weights, 1),
            "mean_review_rating": _mean_scores(fb.review_weights, 1),
        },
        "counts": {
            **kind_counts,
            "feedback": sum(kind_counts.values()),
            "rows_written": int(counts.get("feedback.rows_written", 0)),
        },
        "dirty_rows": dirty,
    }


def voice_true_params(cfg: GeneratorConfig, counts: dict[str, float]) -> dict[str, Any]:
    """The ``satisfaction``, ``engagement`` and ``feedback`` entries of ``true_params.json``
    (the last two only when the run wrote events / feedback)."""
    out: dict[str, Any] = {"satisfaction": _satisfaction(cfg, counts)}
    if cfg.with_events:
        out["engagement"] = _engagement(cfg, counts)
    if cfg.with_feedback:
        out["feedback"] = _feedback(cfg, counts)
    return out
