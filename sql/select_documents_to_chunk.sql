-- Documents of a run that have no chunks under the current chunk settings.
-- Params: $run_id, $chunk_config. Output: doc_id, object_key, text
SELECT d.doc_id, d.object_key, d.text
FROM documents AS d
JOIN run_objects AS r ON r.object_key = d.object_key AND r.run_id = $run_id AND r.status = 'ok'
WHERE NOT EXISTS (
    SELECT 1 FROM chunks AS c WHERE c.doc_id = d.doc_id AND c.chunk_config = $chunk_config
)
ORDER BY d.doc_id
