-- Distinct passages of a run corpus that the embedding cache lacks, each with its commit batch number.
-- Batches are cut from *all* the corpus's distinct passages in (length, hash) order, so a resumed run
-- embeds exactly the batches an uninterrupted run would: a vector depends (slightly) on its batch-mates.
-- Params: $corpus, $parts (cache part files, non-empty), $commit_size. Output: batch_no, text_hash, text
WITH texts AS (
    SELECT c.text_hash, any_value(c.text) AS text
    FROM read_parquet($corpus) AS r
    JOIN chunks AS c ON c.chunk_id = r.chunk_id
    GROUP BY c.text_hash
), numbered AS (
    SELECT text_hash, text,
           (row_number() OVER (ORDER BY length(text), text_hash) - 1) // $commit_size AS batch_no
    FROM texts
)
SELECT batch_no, text_hash, text
FROM numbered
WHERE text_hash NOT IN (SELECT text_hash FROM read_parquet($parts))
ORDER BY batch_no, length(text), text_hash
