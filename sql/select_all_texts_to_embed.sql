-- Distinct chunk texts of a run corpus file, used when the embedding cache is still empty.
-- Params: $corpus. Output: text_hash, text (shortest first)
SELECT c.text_hash, any_value(c.text) AS text
FROM read_parquet($corpus) AS r
JOIN chunks AS c ON c.chunk_id = r.chunk_id
GROUP BY c.text_hash
ORDER BY length(any_value(c.text)), c.text_hash
