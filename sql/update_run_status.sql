-- Set a run's status ('interrupted' after a kill, 'complete' if it had been published). Params: $run_id, $status.
UPDATE runs SET status = $status WHERE run_id = $run_id
