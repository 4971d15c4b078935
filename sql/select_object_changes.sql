-- Classify each listed object against the catalog.
-- The listing's decode_config says how each object would be decoded now: one decoded otherwise counts as changed.
-- Output: key, size, etag, last_modified, change ('new' | 'changed' | 'unchanged'), status (previous),
--         content_hash (previous; lets a re-uploaded but identical object skip decoding), same_decoding
SELECT
    l.key, l.size, l.etag, l.last_modified,
    CASE
        WHEN o.key IS NULL OR o.status = 'deleted' THEN 'new'
        WHEN o.etag IS DISTINCT FROM l.etag
          OR o.size IS DISTINCT FROM l.size
          OR o.decode_config IS DISTINCT FROM l.decode_config THEN 'changed'
        ELSE 'unchanged'
    END AS change,
    o.status,
    o.content_hash,
    o.decode_config = l.decode_config AS same_decoding
FROM listing AS l
LEFT JOIN objects AS o ON o.key = l.key
ORDER BY l.key
