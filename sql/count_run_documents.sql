-- Number of documents in a run's corpus. Params: $run_id. Output: n
SELECT count(*) AS n
FROM documents AS d
JOIN run_objects AS r ON r.object_key = d.object_key AND r.run_id = $run_id AND r.status = 'ok'
