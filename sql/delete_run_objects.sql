-- Reset a run's corpus before (re)listing it. Params: $run_id.
DELETE FROM run_objects WHERE run_id = $run_id
