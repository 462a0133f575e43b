-- 0007_retrigger: a trigger can be sent again (POST …/retrigger) as a new
-- attempt series, and the ASG shows a trigger that keeps failing.
--
-- series: 1 for the promotion's own series (Idempotency-Key
-- amicd-promotion-<id>), n for the (n-1)-th retrigger (amicd-promotion-<id>-<n>);
-- attempts and last_error count within the current series.
-- failing_since_ms: when the current series first failed (NULL: it has not).
ALTER TABLE triggers ADD COLUMN series INTEGER NOT NULL DEFAULT 1;
ALTER TABLE triggers ADD COLUMN failing_since_ms INTEGER;

-- Each retrigger, as the ASG's history keeps it: who, why, when.
CREATE TABLE trigger_series (
    promotion_id INTEGER NOT NULL REFERENCES promotions (id),
    series       INTEGER NOT NULL CHECK (series >= 2),
    asg          TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    PRIMARY KEY (promotion_id, series)
);
