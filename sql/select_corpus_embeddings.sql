-- Embeddings of a run corpus in corpus row order. Params: $corpus, $parts. Output: row_no, embedding
WITH cache AS (
    SELECT text_hash, any_value(embedding) AS embedding
    FROM read_parquet($parts)
    GROUP BY text_hash
)
SELECT r.row_no, cache.embedding
FROM read_parquet($corpus) AS r
JOIN cache ON cache.text_hash = r.text_hash
ORDER BY r.row_no
