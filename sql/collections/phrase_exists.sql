-- Whether a run published a phrase. Params: $phrases (the run's phrases.parquet), $phrase_id. Output: phrase_id
SELECT p.phrase_id FROM read_parquet($phrases) AS p WHERE p.phrase_id = $phrase_id LIMIT 1
