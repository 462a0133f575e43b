-- 0003_push_index: find a commit's pushes without scanning the branch's
-- history (its push order, the push that made it the head).
CREATE INDEX pushes_by_after ON pushes (repo, branch, after_sha, event_id);
