-- Texts of given chunks (registered Arrow table `chunk_ids_input` with row_no, chunk_id), in row order.
-- Output: row_no, text
SELECT i.row_no, c.text
FROM chunk_ids_input AS i
JOIN chunks AS c ON c.chunk_id = i.chunk_id
ORDER BY i.row_no
