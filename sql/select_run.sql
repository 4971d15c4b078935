-- One run's row. Params: $run_id. Output: run_id, started_at, finished_at, status, params, settings, counts, output_prefix
SELECT run_id, started_at, finished_at, status, params, settings, counts, output_prefix FROM runs WHERE run_id = $run_id
