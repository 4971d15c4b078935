-- Mark an object as gone from the bucket. Params: $key, $run_id.
UPDATE objects SET status = 'deleted', n_documents = 0, updated_run = $run_id WHERE key = $key
