-- 0010_event_bodies: a delivery's headers and body in a table of their own.
--
-- An event's row is written twice: by the ingest writer, and again by the
-- worker when it sets the status. With the body (a push is a few KB) in the
-- same row, every status change rewrote a whole page per event and every
-- worker pass read them all back. events keeps what is listed, filtered and
-- updated; event_bodies, keyed by the same id, what is written once and read
-- only to show or replay an event. The table is rebuilt the way SQLite
-- documents (the migration runs with foreign keys off and checks them before
-- its commit); every id stays what it was.
CREATE TABLE event_bodies (
    event_id INTEGER PRIMARY KEY REFERENCES events (id),
    headers  TEXT    NOT NULL,
    payload  BLOB    NOT NULL
);
INSERT INTO event_bodies (event_id, headers, payload) SELECT id, headers, payload FROM events;

CREATE TABLE events_new (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL CHECK (source IN ('gitlab', 'eventbridge', 'gitlab-api', 'ec2-api')),
    kind           TEXT    NOT NULL,
    delivery_id    TEXT,
    dedup_key      TEXT    NOT NULL,
    received_at    TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'ignored', 'processed', 'failed')),
    note           TEXT,
    payload_sha256 TEXT    NOT NULL
);
INSERT INTO events_new (id, source, kind, delivery_id, dedup_key, received_at, status, note, payload_sha256)
    SELECT id, source, kind, delivery_id, dedup_key, received_at, status, note, payload_sha256 FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_dedup ON events (source, dedup_key);
CREATE INDEX events_queued ON events (id) WHERE status = 'queued';
