-- 0005_reconcile: what amicd reads from the sources of truth itself (design §9).
--
-- Observations are events like deliveries: the source column learns the two
-- reconciler sources. SQLite cannot change a CHECK constraint in place, so the
-- table is rebuilt the way SQLite documents (the migration runs with foreign
-- keys off and checks them before its commit).
CREATE TABLE events_new (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL CHECK (source IN ('gitlab', 'eventbridge', 'gitlab-api', 'ec2-api')),
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
INSERT INTO events_new SELECT * FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_dedup ON events (source, dedup_key);
CREATE INDEX events_queued ON events (id) WHERE status = 'queued';

-- A branch-head observation: what GitLab said the branch's head was, asked at
-- asked_at (the request's send time, the same text form as received_at, so
-- pushes stored after it compare as later). commit_sha NULL: the branch is gone.
CREATE TABLE branch_observations (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    repo       TEXT    NOT NULL,
    branch     TEXT    NOT NULL,
    commit_sha TEXT,
    asked_at   TEXT    NOT NULL
);
CREATE INDEX branch_observations_by_branch ON branch_observations (repo, branch, asked_at, event_id);

-- An images observation: every image the account can launch in region that
-- carries tag_key = commit_sha there, as of asked_ms. listed holds their ids as
-- ",ami-1,ami-2," (sorted). An image tagged with the commit in that account
-- whose tag fact is older than the observation and which is not listed no
-- longer counts for the account.
CREATE TABLE image_observations (
    event_id   INTEGER NOT NULL REFERENCES events (id),
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    tag_key    TEXT    NOT NULL,
    commit_sha TEXT    NOT NULL,
    asked_ms   INTEGER NOT NULL,
    listed     TEXT    NOT NULL,
    PRIMARY KEY (event_id, commit_sha)
);
CREATE INDEX image_observations_by_commit ON image_observations (region, account, tag_key, commit_sha, asked_ms);

-- The reconciler's questions and how their sources last answered: not facts
-- (replay does not touch them), the sources' health. question is the
-- reconciler's key ("gitlab <repo> <branch>", "ec2 <account> <region> …").
CREATE TABLE source_checks (
    question         TEXT    PRIMARY KEY,
    source           TEXT    NOT NULL CHECK (source IN ('gitlab-api', 'ec2-api')),
    answer_sha256    TEXT,              -- of the last answer (NULL: none yet)
    last_checked_ms  INTEGER,           -- the last answer's request time
    last_ok_ms       INTEGER,
    failing_since_ms INTEGER,           -- NULL: not failing
    last_error       TEXT
);
