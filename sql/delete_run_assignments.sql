-- Clear a run's assignments before (re)writing them. Params: $run_id.
DELETE FROM assignments WHERE run_id = $run_id
