"""Shopping sessions beside the purchases: visits, product views and cart adds on the web, in
the app, in the store or with an agent (see :class:`synthetic.settings.EngagementSettings`).

* Every customer's signup is a session; buyers browse a few more times before their first
  purchase.
* While a purchasing customer is alive, browsing sessions that end without a purchase form a
  Poisson process of rate ``lambda * (1 - c) / c`` in the operational time of the purchases,
  and every order has one converting session (views and cart adds of the products bought,
  minutes before the order; a store or agent order has a visit in that channel).  The union is
  a Poisson process of rate ``lambda / c`` whose points are purchases with probability ``c``
  (``browse_to_buy``), independently: by Wald's identity the expected number of browsing
  sessions of a customer up to the dropout (or the end of the window) is ``(1 - c) / c``
  times the expected number of repeat purchases.
* After the dropout the browsing rate decays as ``exp(-days / fade_days)``.
* Customers who never buy browse at ``never_buyer_session_rate`` for an exponential interest
  period after signup, then fade the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from synthetic.catalogue import Catalogue
from synthetic.population import CHANNELS
from synthetic.process import Process
from synthetic.settings import SECONDS_PER_DAY, GeneratorConfig

#: Canonical event kinds (the index is the code used internally) and the source's values.
EVENT_KINDS: tuple[str, ...] = (
    "visit",
    "product_view",
    "add_to_cart",
    "email_send",
    "email_open",
    "email_click",
    "unsubscribe",
)
EVENT_VALUES: tuple[str, ...] = (
    "session_start",
    "view_item",
    "add_to_cart",
    "email_delivered",
    "email_open",
    "email_click",
    "unsubscribe",
)
VISIT, VIEW, CART, SEND, OPEN, CLICK, UNSUBSCRIBE = range(len(EVENT_KINDS))
#: Event channels (index = code used internally).
EVENT_CHANNELS: tuple[str, ...] = ("web", "app", "store", "agent", "email")
WEB, APP, STORE, AGENT, EMAIL = range(len(EVENT_CHANNELS))
# what a converting session looks like per order channel (online -> web or app)
_ORDER_SESSION_CHANNEL = {CHANNELS.index("store"): STORE, CHANNELS.index("agent"): AGENT}
# a converting session's last cart add comes this many seconds (plus up to 2 minutes) before
# its order; a store or agent visit 5 to 45 minutes before
_CHECKOUT_S = 30.0
_STORE_VISIT_S = (300.0, 2_700.0)
# browsing sessions between the signup session and the first purchase need this much room
_MIN_GAP_BEFORE_FIRST_S = 3_600.0


@dataclass
class Events:
    """Events as parallel arrays (one entry per event; ``-1``: no product or campaign)."""

    customer: np.ndarray
    ts: np.ndarray  # seconds since the window start
    kind: np.ndarray
    channel: np.ndarray
    product: np.ndarray
    campaign: np.ndarray

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        """One set of arrays from several, in order."""
        return Events(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("customer", "ts", "kind", "channel", "product", "campaign")
            )
        )

    def keep(self, mask: np.ndarray) -> Events:
        """The events where ``mask`` holds."""
        return Events(
            self.customer[mask],
            self.ts[mask],
            self.kind[mask],
            self.channel[mask],
            self.product[mask],
            self.campaign[mask],
        )


def segment_positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For segments of the given lengths: each element's segment and position in it."""
    counts = counts.astype(np.int64)
    segment = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return segment, np.arange(int(counts.sum())) - starts[segment]


@dataclass(frozen=True)
class Engagement:
    """Each customer's engagement traits (arrays indexed by customer)."""

    signup_session_s: np.ndarray  # the signup session (uniform in the signup day)
    fade_since_s: np.ndarray  # when engagement starts to fade (``inf``: not in the window)
    app_share: np.ndarray  # probability that a web-or-app session is in the app
    email_optin: np.ndarray  # receives marketing e-mails
    open_propensity: np.ndarray  # probability of opening an e-mail while engaged
    click_propensity: np.ndarray  # probability of clicking an opened e-mail
    unsubscribes: np.ndarray  # will unsubscribe (if they get an e-mail)
    unsubscribe_at: np.ndarray  # uniform in [0, 1): which of their e-mails is the last

    def block(self, lo: int, hi: int) -> Engagement:
        """The traits of customers ``lo .. hi - 1``."""
        return Engagement(*(getattr(self, f.name)[lo:hi] for f in dataclasses.fields(self)))


def draw_engagement(
    rng: np.random.Generator, cfg: GeneratorConfig, proc: Process, classes: np.ndarray
) -> Engagement:
    """Each customer's engagement traits.

    A purchaser who drops out fades from the dropout (the last purchase); a customer who never
    buys from the end of an exponential interest period after the signup session.  The share
    of customers who unsubscribe depends on their satisfaction class.
    """
    eng = cfg.engagement
    n = proc.n
    # uniform in the signup day, and before the first purchase when that is on the same day
    day_end = proc.signup_s + SECONDS_PER_DAY
    latest = np.where(proc.purchaser, np.minimum(proc.first_s, day_end), day_end)
    signup_session = proc.signup_s + np.floor(rng.random(n) * (latest - proc.signup_s))
    interest = rng.exponential(eng.never_buyer_interest_days * SECONDS_PER_DAY, n)
    fade_since = np.full(n, np.inf)
    fade_since[proc.dead] = proc.last_s[proc.dead]
    fade_since[proc.potential] = (signup_session + interest)[proc.potential]
    app_user = rng.random(n) < eng.app_user_share
    k_open, k_click = eng.open_concentration, eng.click_concentration
    return Engagement(
        signup_session_s=signup_session.astype(np.float64),
        fade_since_s=fade_since,
        app_share=np.where(app_user, eng.app_share_of_app_users, eng.app_share_of_others),
        email_optin=rng.random(n) < eng.email_optin_share,
        open_propensity=rng.beta(eng.open_rate * k_open, (1.0 - eng.open_rate) * k_open, n),
        click_propensity=rng.beta(eng.click_rate * k_click, (1.0 - eng.click_rate) * k_click, n),
        unsubscribes=rng.random(n) < np.asarray(eng.unsubscribe_share)[classes],
        unsubscribe_at=rng.random(n),
    )


def _uniform_sessions(
    rng: np.random.Generator, count: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``count[i]`` session starts uniform in ``[lo[i], hi[i])``: (customer, start)."""
    cust, _ = segment_positions(count)
    start = lo[cust] + rng.random(cust.size) * np.maximum(hi - lo, 0.0)[cust]
    return cust, start


def _fading_sessions(
    rng: np.random.Generator, cfg: GeneratorConfig, rate_per_day: np.ndarray, since: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sessions of intensity ``rate * exp(-days since / fade_days)`` after ``since`` (``inf``:
    none), up to the end of the window: (customer, start)."""
    tau = cfg.engagement.fade_days
    since_days = since / SECONDS_PER_DAY
    finite = np.isfinite(since_days)
    left = np.where(finite, np.maximum(cfg.window_days - np.where(finite, since_days, 0), 0), 0)
    mass = -np.expm1(-left / tau)
    count = rng.poisson(rate_per_day * tau * mass)
    cust, _ = segment_positions(count)
    u = rng.random(cust.size)
    start_days = since_days[cust] - tau * np.log1p(-u * mass[cust])
    return cust, start_days * SECONDS_PER_DAY


def _browse_sessions(
    rng: np.random.Generator, cfg: GeneratorConfig, proc: Process, eng_: Engagement
) -> tuple[np.ndarray, np.ndarray]:
    """Every session that ends without a purchase: (customer, start in seconds)."""
    eng, season = cfg.engagement, cfg.season
    window_s = float(cfg.window_days * SECONDS_PER_DAY)
    never = proc.potential
    custs, starts = [], []

    # the signup session, then browsing until the first purchase (or the window end, for
    # customers whose first purchase falls after it) ...
    extra = rng.poisson(eng.first_purchase_sessions_mean, proc.n)
    hi = np.minimum(proc.first_s.astype(np.float64), window_s)
    # none squeezed into the last minutes before a purchase on the signup day
    room = hi - eng_.signup_session_s >= _MIN_GAP_BEFORE_FIRST_S
    c, s = _uniform_sessions(rng, np.where(~never & room, extra, 0), eng_.signup_session_s, hi)
    custs += [np.flatnonzero(~never), c]
    starts += [eng_.signup_session_s[~never], s]

    # ... or, for never-buyers, while interested
    end = np.minimum(np.where(never, eng_.fade_since_s, 0.0), window_s)
    days = np.maximum(end - eng_.signup_session_s, 0.0) / SECONDS_PER_DAY
    count = np.where(never, rng.poisson(eng.never_buyer_session_rate * days), 0)
    c, s = _uniform_sessions(rng, count, eng_.signup_session_s, end)
    custs += [np.flatnonzero(never), c]
    starts += [eng_.signup_session_s[never], s]

    # alive purchasers: the non-converting part of a Poisson process of rate lambda / c in the
    # operational time of their purchases, from the first purchase to the dropout or the end
    c_share = eng.browse_to_buy
    browse_rate = proc.lam * (1.0 - c_share) / c_share
    first_tau = season.to_operational(proc.first_s / SECONDS_PER_DAY)
    alive_end = np.where(proc.dead, proc.last_s, window_s)
    end_tau = season.to_operational(alive_end / SECONDS_PER_DAY)
    span = np.where(proc.purchaser, np.maximum(end_tau - first_tau, 0.0), 0.0)
    count = rng.poisson(browse_rate * span)
    cust, _ = segment_positions(count)
    tau = first_tau[cust] + rng.random(cust.size) * span[cust]
    custs.append(cust)
    starts.append(season.to_calendar(tau) * SECONDS_PER_DAY)

    # fading after the dropout, or after a never-buyer's interest
    rate = np.where(never, eng.never_buyer_session_rate, browse_rate)
    c, s = _fading_sessions(rng, cfg, rate, eng_.fade_since_s)
    custs.append(c)
    starts.append(s)
    return np.concatenate(custs), np.concatenate(starts)


def _random_products(rng: np.random.Generator, cat: Catalogue, n: int) -> np.ndarray:
    """``n`` products drawn by Zipf popularity."""
    pos = np.searchsorted(cat.sorted_cdf, rng.random(n), side="right")
    return cat.price_order[np.minimum(pos, cat.price_order.size - 1)]


def session_events(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    cat: Catalogue,
    proc: Process,
    eng_: Engagement,
) -> Events:
    """Every visit, product view and cart add of the chunk, inside the window (unsorted)."""
    eng = cfg.engagement
    window_s = cfg.window_days * SECONDS_PER_DAY
    b_cust, b_start = _browse_sessions(rng, cfg, proc, eng_)
    n_browse, n_orders = b_cust.size, proc.order_s.size

    # sessions: browsing ones first, then one converting session per order
    cust = np.concatenate([b_cust, proc.order_customer]).astype(np.int64)
    online = np.concatenate(
        [np.ones(n_browse, dtype=bool), proc.order_channel == CHANNELS.index("online")]
    )
    app = rng.random(cust.size) < eng_.app_share[cust]
    channel = np.where(app, APP, WEB).astype(np.int8)
    for code, ev_channel in _ORDER_SESSION_CHANNEL.items():
        channel[n_browse:][proc.order_channel == code] = ev_channel
    random_views = np.concatenate(
        [
            1 + rng.poisson(eng.views_extra_mean, n_browse),
            rng.poisson(eng.converting_extra_views_mean, n_orders),
        ]
    )
    random_views[~online] = 0
    lines = np.concatenate([np.zeros(n_browse, dtype=np.int64), proc.order_lines])
    lines[~online] = 0
    cart_last = np.zeros(cust.size, dtype=bool)
    cart_last[:n_browse] = rng.random(n_browse) < eng.cart_add_share
    n_events = 1 + random_views + 2 * lines + cart_last

    # events: the visit, random views, then a view and a cart add per product bought, or a
    # cart add of the last product viewed
    sess, pos = segment_positions(n_events)
    kind = np.full(sess.size, VIEW, dtype=np.int8)
    kind[pos == 0] = VISIT
    q = pos - 1 - random_views[sess]
    in_lines = (q >= 0) & (q < 2 * lines[sess])
    kind[in_lines & (q % 2 == 1)] = CART
    last_cart = cart_last[sess] & (pos == n_events[sess] - 1)
    kind[last_cart] = CART
    product = np.full(sess.size, -1, dtype=np.int64)
    is_random_view = (kind == VIEW) & ~in_lines
    product[is_random_view] = _random_products(rng, cat, int(is_random_view.sum()))
    order_of = np.where(sess >= n_browse, sess - n_browse, 0)
    line = proc.order_first_line[order_of] + np.maximum(q, 0) // 2
    product[in_lines] = proc.line_product[line[in_lines]]
    last_cart_at = np.flatnonzero(last_cart)
    product[last_cart_at] = product[last_cart_at - 1]

    # times: gaps of 1 s plus an exponential; converting sessions end shortly before the order
    gap = np.where(
        pos == 0, 0.0, 1.0 + np.floor(rng.exponential(eng.event_gap_seconds_mean, pos.size))
    )
    offset = np.cumsum(gap)
    offset -= (offset - gap)[pos == 0][sess] if sess.size else 0.0
    start = np.empty(cust.size)
    start[:n_browse] = b_start
    length = np.zeros(cust.size)
    ends = np.flatnonzero(np.r_[pos[1:] == 0, True]) if pos.size else np.array([], dtype=np.int64)
    length[sess[ends]] = offset[ends]
    checkout = _CHECKOUT_S + np.floor(rng.random(n_orders) * 120.0)
    lo, hi = _STORE_VISIT_S
    store_lead = lo + np.floor(rng.random(n_orders) * (hi - lo))
    start[n_browse:] = proc.order_s - np.where(
        online[n_browse:], length[n_browse:] + checkout, store_lead
    )
    ts = np.floor(start[sess] + offset).astype(np.int64)
    events = Events(
        cust[sess],
        ts,
        kind,
        channel[sess],
        product,
        np.full(sess.size, -1, dtype=np.int64),
    )
    return events.keep((ts >= 0) & (ts < window_s))
