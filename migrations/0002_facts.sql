-- 0002_facts: what the deliveries mean, derived by the worker (and by replay),
-- and what amicd did about it. Every row links back to the event behind it.
--
-- AMI facts are last-writer-wins per fact, ordered by (event time, event id),
-- so applying events in any order converges to the same rows.
CREATE TABLE pushes (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    repo       TEXT    NOT NULL,
    branch     TEXT    NOT NULL,
    before_sha TEXT    NOT NULL,
    after_sha  TEXT    NOT NULL,
    deleted    INTEGER NOT NULL
);
CREATE INDEX pushes_by_branch ON pushes (repo, branch, event_id);
CREATE INDEX pushes_by_before ON pushes (repo, branch, before_sha);

CREATE TABLE amis (
    region      TEXT    NOT NULL,
    image_id    TEXT    NOT NULL,
    owner       TEXT,
    state       TEXT,
    state_time  INTEGER,
    state_event INTEGER REFERENCES events (id),
    created_ms  INTEGER NOT NULL,
    first_event INTEGER NOT NULL REFERENCES events (id),
    PRIMARY KEY (region, image_id)
);

CREATE TABLE ami_shares (
    region   TEXT    NOT NULL,
    image_id TEXT    NOT NULL,
    account  TEXT    NOT NULL,          -- 12-digit id, or 'all' for public
    shared   INTEGER NOT NULL,
    ev_time  INTEGER NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events (id),
    PRIMARY KEY (region, image_id, account)
);

CREATE TABLE ami_tags (
    region   TEXT    NOT NULL,
    image_id TEXT    NOT NULL,
    account  TEXT    NOT NULL,          -- the account that sees the tag
    key      TEXT    NOT NULL,
    value    TEXT,                      -- NULL: deleted
    ev_time  INTEGER NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events (id),
    PRIMARY KEY (region, image_id, account, key)
);
CREATE INDEX ami_tags_by_value ON ami_tags (region, account, key, value);

CREATE TABLE promotions (
    id              INTEGER PRIMARY KEY,
    asg             TEXT NOT NULL,
    commit_sha      TEXT NOT NULL,
    image_id        TEXT NOT NULL,
    previous_commit TEXT,
    previous_image  TEXT,
    cause_event_id  INTEGER REFERENCES events (id),
    reason          TEXT NOT NULL,
    actor           TEXT NOT NULL CHECK (actor IN ('auto', 'admin')),
    promoted_at     TEXT NOT NULL
);
CREATE INDEX promotions_by_asg ON promotions (asg, id);

CREATE TABLE pins (
    asg          TEXT PRIMARY KEY,
    commit_sha   TEXT    NOT NULL,
    image_id     TEXT    NOT NULL,
    promotion_id INTEGER NOT NULL REFERENCES promotions (id),
    promoted_at  TEXT    NOT NULL
);

-- The trigger outbox: one row per promotion, written in the promotion's transaction.
CREATE TABLE triggers (
    promotion_id    INTEGER PRIMARY KEY REFERENCES promotions (id),
    asg             TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_ms INTEGER NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX triggers_pending ON triggers (next_attempt_ms) WHERE state = 'pending';

CREATE TABLE asg_state (
    asg        TEXT PRIMARY KEY,
    frozen     INTEGER NOT NULL DEFAULT 0,
    reason     TEXT,
    actor      TEXT,
    changed_at TEXT
);
