-- Close a run after its outputs are published. Params: $run_id, $finished_at, $counts, $output_prefix.
UPDATE runs
SET status = 'complete', finished_at = $finished_at, counts = $counts, output_prefix = $output_prefix
WHERE run_id = $run_id
