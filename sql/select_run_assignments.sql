-- A published run's theme and subtheme per chunk. Params: $run_id.
-- Output: chunk_id, theme_id, subtheme_id (NULL = noise / none)
SELECT chunk_id, theme_id, subtheme_id FROM assignments WHERE run_id = $run_id ORDER BY chunk_id
