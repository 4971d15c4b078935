-- A run's corpus of chunks in a fixed order (the row order every later stage uses).
-- Params: $run_id, $chunk_config. Output: chunk_id, doc_id, object_key, char_start, char_end, text_hash,
-- repeat (an earlier chunk of the same document has the same text: the stage drops it)
SELECT c.chunk_id, c.doc_id, c.object_key, c.char_start, c.char_end, c.text_hash,
       row_number() OVER (PARTITION BY c.doc_id, c.text_hash ORDER BY c.ordinal) > 1 AS repeat
FROM chunks AS c
JOIN run_objects AS r ON r.object_key = c.object_key AND r.run_id = $run_id AND r.status = 'ok'
WHERE c.chunk_config = $chunk_config
ORDER BY c.chunk_id
