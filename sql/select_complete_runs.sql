-- Complete runs, newest first (retention keeps the first N). Output: run_id
SELECT run_id FROM runs WHERE status = 'complete' ORDER BY run_id DESC
