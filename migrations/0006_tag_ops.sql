-- 0006_tag_ops: every tag operation an account made on an AMI, so that
-- ami_tags (what the account sees) can be worked out as AWS does whatever
-- order the events arrive in (design §4): DeleteTags removes a key only when
-- no value is named or the value matches, and with no tag list removes every
-- tag the account set (but AWS's own aws:* tags). A row of ami_tags is the
-- result of the operations on its key in (event time, sets before deletions,
-- value, event id) order; its ev_time and event_id are those of the operation
-- that last changed it.
CREATE TABLE ami_tag_ops (
    region   TEXT    NOT NULL,
    image_id TEXT    NOT NULL,
    account  TEXT    NOT NULL,          -- the account that set or deleted (the viewer)
    key      TEXT    NOT NULL,          -- '': a DeleteTags without tags (AWS tag keys are never empty)
    op       TEXT    NOT NULL CHECK (op IN ('set', 'delete')),
    value    TEXT,                      -- set: the value; delete: the value named (NULL: any value)
    ev_time  INTEGER NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events (id),
    PRIMARY KEY (region, image_id, account, key, event_id)
);

-- What ami_tags holds today is where the history starts.
INSERT INTO ami_tag_ops (region, image_id, account, key, op, value, ev_time, event_id)
    SELECT region, image_id, account, key, CASE WHEN value IS NULL THEN 'delete' ELSE 'set' END, value,
           ev_time, event_id
    FROM ami_tags WHERE key <> '';
