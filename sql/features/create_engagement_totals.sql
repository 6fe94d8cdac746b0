-- The running totals of the engagement and feedback measures, empty: _event_totals
-- (event_totals.sql advances it) and _feedback_totals (feedback_totals.sql). A source that is
-- not configured keeps its table empty, and customer_engagement.sql reads both either way.
CREATE OR REPLACE TEMP TABLE _event_totals (
    customer_id VARCHAR,
    visits HUGEINT,
    product_views HUGEINT,
    cart_adds HUGEINT,
    email_sends HUGEINT,
    email_opens HUGEINT,
    email_clicks HUGEINT,
    abandoned_carts HUGEINT,
    last_engaged DATE,
    unsubscribed BOOLEAN
);
CREATE OR REPLACE TEMP TABLE _feedback_totals (
    customer_id VARCHAR,
    csat_sum DECIMAL(38, 10),
    csat_answers HUGEINT,
    complaints HUGEINT,
    last_feedback DATE,
    latest_nps DOUBLE
);
