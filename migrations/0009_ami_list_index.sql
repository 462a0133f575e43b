-- 0009_ami_list_index: GET /api/v1/amis without reading every AMI.
--
-- ?commit= starts from the tag value: the AMIs carrying it in any region,
-- account or key (commit ids compared case-insensitively, as the store
-- compares them everywhere; deleted tags, value NULL, never match). Without
-- ?commit=, the newest AMIs are read in list order and the read stops at the
-- limit instead of sorting them all.
CREATE INDEX ami_tags_by_any_lvalue ON ami_tags (lower(value), region, image_id) WHERE value IS NOT NULL;
CREATE INDEX amis_by_created ON amis (created_ms, first_event);
