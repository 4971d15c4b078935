-- Clear a run's published clusters (before rewriting them, or when the run is interrupted). Params: $run_id.
DELETE FROM clusters WHERE run_id = $run_id
