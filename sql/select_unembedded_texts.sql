-- Distinct chunk texts of a run corpus file that no embedding-cache part holds yet.
-- Params: $corpus (Parquet path), $parts (non-empty list of cache part paths).
-- Output: text_hash, text (shortest first, so batches pad little)
SELECT c.text_hash, any_value(c.text) AS text
FROM read_parquet($corpus) AS r
JOIN chunks AS c ON c.chunk_id = r.chunk_id
WHERE c.text_hash NOT IN (SELECT text_hash FROM read_parquet($parts))
GROUP BY c.text_hash
ORDER BY length(any_value(c.text)), c.text_hash
