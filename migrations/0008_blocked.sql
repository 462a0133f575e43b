-- 0008_blocked: commits an admin marked bad for an ASG (design §1, §2): never a
-- candidate for it, automatically or by hand, until unblocked (the row is
-- deleted). Commit ids are stored lower-case.
CREATE TABLE blocked_commits (
    asg        TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    blocked_at TEXT NOT NULL,
    PRIMARY KEY (asg, commit_sha)
);
