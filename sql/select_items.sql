-- The published items of a run (registered Arrow table `chunk_ids_input` with row_no, chunk_id), in row order:
-- each chunk's text, its document's metadata (JSON text) and its object's last_modified (epoch seconds).
-- Output: row_no, text, metadata, last_modified
SELECT i.row_no, c.text, d.metadata, o.last_modified
FROM chunk_ids_input AS i
JOIN chunks AS c ON c.chunk_id = i.chunk_id
JOIN documents AS d ON d.doc_id = c.doc_id
LEFT JOIN objects AS o ON o.key = c.object_key
ORDER BY i.row_no
