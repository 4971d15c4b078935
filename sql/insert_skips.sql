-- Append recorded skips from the registered Arrow table `skips_input`.
INSERT INTO skips (object_key, record_no, reason, detail, run_id)
SELECT object_key, record_no, reason, detail, run_id FROM skips_input
