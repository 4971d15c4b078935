-- Every object still in the bucket with how its last read went: for the API's per-file embedding status.
-- Output: object_key, status ('ok' | 'skipped'), content_hash, updated_run, skipped_records, reason, detail
-- (reason and detail: the object's first skip, by record number, object-level first).
WITH first_skips AS (
    SELECT object_key, count(record_no) AS skipped_records,
           arg_min(reason, coalesce(record_no, -1)) AS reason,
           arg_min(detail, coalesce(record_no, -1)) AS detail
    FROM skips
    GROUP BY object_key
)
SELECT o.key AS object_key, o.status, o.content_hash, o.updated_run,
       coalesce(s.skipped_records, 0) AS skipped_records, s.reason, s.detail
FROM objects AS o
LEFT JOIN first_skips AS s ON s.object_key = o.key
WHERE o.status <> 'deleted'
ORDER BY o.key
