-- Drop the working tables of the engagement and feedback features (engagement_calendar.sql,
-- event_increments.sql, feedback_increments.sql and their running totals).
DROP TABLE IF EXISTS temp._engagement_calendar;
DROP TABLE IF EXISTS temp._event_increments;
DROP TABLE IF EXISTS temp._feedback_increments;
DROP TABLE IF EXISTS temp._event_totals;
DROP TABLE IF EXISTS temp._feedback_totals;
