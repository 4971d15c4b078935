-- Clear a run's phrases before (re)writing them, or when its assignments go. Params: $run_id.
DELETE FROM phrases WHERE run_id = $run_id
