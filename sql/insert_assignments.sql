-- Append a run's assignments from the registered Arrow table `assignments_input`. Params: $run_id.
INSERT INTO assignments (run_id, chunk_id, theme_id, subtheme_id, centrality, phrase_id)
SELECT $run_id, chunk_id, theme_id, subtheme_id, centrality, phrase_id FROM assignments_input
