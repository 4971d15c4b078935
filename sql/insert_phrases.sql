-- Append a run's phrases from the registered Arrow table `phrases_input`. Params: $run_id.
INSERT INTO phrases (run_id, phrase_id, theme_id, subtheme_id, chunk_id, items_count, variants)
SELECT $run_id, phrase_id, theme_id, subtheme_id, chunk_id, items_count, variants FROM phrases_input
