-- Record a run's listed objects and their status; the 'ok' ones make up its corpus. Params: $run_id.
INSERT INTO run_objects (run_id, object_key, status)
SELECT $run_id, o.key, o.status
FROM objects AS o
WHERE o.key IN (SELECT key FROM listing)
