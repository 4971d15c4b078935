-- A published run's themes and subthemes. Params: $run_id.
-- Output: cluster_id, parent_id, level, size, header, centroid
SELECT cluster_id, parent_id, level, size, header, centroid FROM clusters WHERE run_id = $run_id ORDER BY cluster_id
