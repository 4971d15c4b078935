-- Skips that concern the objects listed for a run. Params: $run_id.
-- Output: object_key, record_no, reason, detail
SELECT s.object_key, s.record_no, s.reason, s.detail
FROM skips AS s
JOIN run_objects AS r ON r.object_key = s.object_key AND r.run_id = $run_id
ORDER BY s.object_key, s.record_no NULLS FIRST
