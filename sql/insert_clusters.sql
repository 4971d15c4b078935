-- Append a run's published themes and subthemes from the registered Arrow table `clusters_input`. Params: $run_id.
INSERT INTO clusters (run_id, cluster_id, parent_id, level, size, header, centroid)
SELECT $run_id, cluster_id, parent_id, level, size, header, centroid FROM clusters_input
