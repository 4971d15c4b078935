-- Runs still marked 'running' (read while holding the run lock, so their process is gone).
-- Output: run_id
SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id
