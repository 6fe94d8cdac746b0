"""Marketing e-mails: weekly campaigns delivered to the opted-in customers who signed up and have
not unsubscribed, opened and clicked at known per-customer rates, and a known share of
unsubscribes per satisfaction class (see :class:`synthetic.settings.EngagementSettings`).

Opens fade after the customer's engagement does (the dropout, or a never-buyer's lost
interest): an e-mail delivered ``d`` days after it is opened with probability
``open_propensity * exp(-d / fade_days)``.  Before that, opens / deliveries has expectation
``open_rate`` and clicks / opens ``click_rate`` (the propensities are independent of how many
e-mails a customer gets).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from synthetic.engagement import (
    CLICK,
    EMAIL,
    OPEN,
    SEND,
    UNSUBSCRIBE,
    Engagement,
    Events,
    segment_positions,
)
from synthetic.process import Process
from synthetic.settings import SECONDS_PER_DAY, GeneratorConfig

# an unsubscribe follows its delivery by 30 minutes to 2 days (before the next campaign)
_UNSUBSCRIBE_DELAY_S = (1_800.0, 2 * 86_400.0)
# a click follows its open by 5 seconds to 10 minutes
_CLICK_DELAY_S = (5.0, 600.0)


def campaigns(cfg: GeneratorConfig) -> tuple[np.ndarray, pl.Series]:
    """The campaigns' start times (seconds since the window start) and ids (``cmp-<date>``)."""
    eng = cfg.engagement
    first = (eng.campaign_weekday - cfg.start.weekday()) % 7
    days = np.arange(first, cfg.window_days, eng.campaign_interval_days, dtype=np.int64)
    start_s = days * SECONDS_PER_DAY + int(eng.campaign_hour * 3_600)
    dates = [(cfg.start + dt.timedelta(days=int(d))).isoformat() for d in days]
    return start_s, pl.Series("campaign", [f"cmp-{d}" for d in dates], dtype=pl.String)


def email_events(
    rng: np.random.Generator, cfg: GeneratorConfig, proc: Process, traits: Engagement
) -> Events:
    """Deliveries, opens, clicks and unsubscribes inside the window (unsorted)."""
    eng = cfg.engagement
    window_s = cfg.window_days * SECONDS_PER_DAY
    camp_s, _ = campaigns(cfg)

    # campaigns from the day after signup on; an unsubscriber leaves after a delivery drawn
    # uniformly among the ones they would get
    first = np.searchsorted(camp_s, proc.signup_s + SECONDS_PER_DAY, side="left")
    possible = np.where(traits.email_optin, camp_s.size - first, 0)
    leaves = traits.unsubscribes & (possible > 0)
    last = np.floor(traits.unsubscribe_at * possible).astype(np.int64)
    count = np.where(leaves, last + 1, possible)

    cust, pos = segment_positions(count)
    campaign = first[cust] + pos
    spread = eng.send_spread_hours * 3_600.0
    send_s = camp_s[campaign] + np.floor(rng.random(cust.size) * spread)
    since = traits.fade_since_s[cust]
    fade_s = eng.fade_days * SECONDS_PER_DAY
    faded = np.where(send_s > since, np.exp(-(send_s - since) / fade_s), 1.0)
    opened = rng.random(cust.size) < traits.open_propensity[cust] * faded
    delay = 1.0 + np.floor(rng.exponential(eng.open_delay_hours_mean * 3_600.0, cust.size))
    open_s = send_s + delay
    clicked = opened & (rng.random(cust.size) < traits.click_propensity[cust])
    lo, hi = _CLICK_DELAY_S
    click_s = open_s + lo + np.floor(rng.random(cust.size) * (hi - lo))

    leaver = np.flatnonzero(leaves)
    lo, hi = _UNSUBSCRIBE_DELAY_S
    final_send = np.cumsum(count)[leaver] - 1
    unsub_s = send_s[final_send] + lo + np.floor(rng.random(leaver.size) * (hi - lo))

    parts = [
        (cust, send_s, SEND, campaign),
        (cust[opened], open_s[opened], OPEN, campaign[opened]),
        (cust[clicked], click_s[clicked], CLICK, campaign[clicked]),
        (leaver, unsub_s, UNSUBSCRIBE, campaign[final_send]),
    ]
    events = Events.concat(
        [
            Events(
                c.astype(np.int64),
                s.astype(np.int64),
                np.full(c.size, kind, dtype=np.int8),
                np.full(c.size, EMAIL, dtype=np.int8),
                np.full(c.size, -1, dtype=np.int64),
                camp.astype(np.int64),
            )
            for c, s, kind, camp in parts
        ]
    )
    return events.keep(events.ts < window_s)
