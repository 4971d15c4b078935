-- Mark a group of objects as gone from the bucket: the keys in the registered Arrow table `keys_input`.
-- Params: $run_id.
UPDATE objects SET status = 'deleted', n_documents = 0, updated_run = $run_id
WHERE key IN (SELECT key FROM keys_input)
