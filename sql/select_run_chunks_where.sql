-- A run's corpus of chunks, as select_run_chunks, restricted to the documents its slice selects: the marker
-- below is replaced by a condition over d (documents) and o (objects) compiled from the run's `where` and date
-- range by tasks.infra.query (only its constants and numbered placeholders; every user value is a parameter).
-- Params: $run_id, $chunk_config and the condition's own. Output: chunk_id, doc_id, object_key, char_start,
-- char_end, text_hash,
-- repeat (an earlier chunk of the same document has the same text: the stage drops it)
SELECT c.chunk_id, c.doc_id, c.object_key, c.char_start, c.char_end, c.text_hash,
       row_number() OVER (PARTITION BY c.doc_id, c.text_hash ORDER BY c.ordinal) > 1 AS repeat
FROM chunks AS c
JOIN run_objects AS r ON r.object_key = c.object_key AND r.run_id = $run_id AND r.status = 'ok'
JOIN documents AS d ON d.doc_id = c.doc_id
JOIN objects AS o ON o.key = c.object_key
WHERE c.chunk_config = $chunk_config AND /*where*/TRUE
ORDER BY c.chunk_id
