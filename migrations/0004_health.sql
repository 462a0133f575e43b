-- 0004_health: a row amicd rewrites to learn whether the database can be
-- written again while commits are failing (disk full, I/O errors), so it
-- notices a recovery without waiting for a delivery; and an index for the tag
-- values a decision looks up (commit ids, compared case-insensitively), so
-- deciding an ASG does not read every AMI of its region.
CREATE TABLE health_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  TEXT NOT NULL,
    pad BLOB NOT NULL
);
CREATE INDEX ami_tags_by_lvalue ON ami_tags (region, account, key, lower(value));

-- A promotion's trigger is sent only once its pin file is durably written:
-- the worker sets pin_written after the file is in place (rows from before
-- this migration were delivered or handled already).
ALTER TABLE triggers ADD COLUMN pin_written INTEGER NOT NULL DEFAULT 1;

-- An AMI's state is the one with the latest event time; at equal times (EventBridge
-- times have one-second resolution) the later lifecycle state wins, whatever the
-- order the events arrived in: state_rank orders the lifecycle (facts.h).
ALTER TABLE amis ADD COLUMN state_rank INTEGER NOT NULL DEFAULT 0;
UPDATE amis SET state_rank = CASE state
    WHEN 'pending' THEN 0 WHEN 'transient' THEN 0 WHEN 'available' THEN 1
    WHEN 'disabled' THEN 3 WHEN 'deregistered' THEN 4 ELSE 2 END;
