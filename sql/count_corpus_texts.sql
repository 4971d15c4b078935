-- Distinct passages (text hashes) in a run corpus file. Params: $corpus. Output: n
SELECT count(DISTINCT text_hash) AS n FROM read_parquet($corpus)
