-- Distinct passages of a run corpus with their commit batch numbers, used while the cache is still empty
-- (same batches as select_texts_to_embed). Params: $corpus, $commit_size. Output: batch_no, text_hash, text
WITH texts AS (
    SELECT c.text_hash, any_value(c.text) AS text
    FROM read_parquet($corpus) AS r
    JOIN chunks AS c ON c.chunk_id = r.chunk_id
    GROUP BY c.text_hash
)
SELECT (row_number() OVER (ORDER BY length(text), text_hash) - 1) // $commit_size AS batch_no, text_hash, text
FROM texts
ORDER BY batch_no, length(text), text_hash
