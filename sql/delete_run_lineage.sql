-- Clear a run's lineage events (before rewriting them, or when the run is interrupted). Params: $run_id.
DELETE FROM lineage WHERE run_id = $run_id
