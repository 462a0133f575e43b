-- 0001_inbox: the durable inbox. Every delivery that passed authentication and
-- parsing is one row of events, kept raw (payload + non-secret headers) so facts
-- can be re-derived by replay. Deliveries rejected as malformed are kept, bounded,
-- in rejected_deliveries for diagnosis.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL CHECK (source IN ('gitlab', 'eventbridge')),
    kind           TEXT    NOT NULL,
    delivery_id    TEXT,
    dedup_key      TEXT    NOT NULL,
    received_at    TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'ignored', 'processed', 'failed')),
    note           TEXT,
    headers        TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    payload_sha256 TEXT    NOT NULL
);
CREATE UNIQUE INDEX events_dedup ON events (source, dedup_key);
CREATE INDEX events_queued ON events (id) WHERE status = 'queued';

CREATE TABLE rejected_deliveries (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    json_path   TEXT,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL
);
