-- Append a run's lineage events from the registered Arrow table `lineage_input`. Params: $run_id.
INSERT INTO lineage (run_id, previous_run_id, level, cluster_id, event, previous_ids, current_ids,
                     size_before, size_after, moved_share)
SELECT $run_id, previous_run_id, level, cluster_id, event, previous_ids, current_ids,
       size_before, size_after, moved_share
FROM lineage_input
