-- Record an object's state after reading it.
-- Params: $key, $size, $etag, $last_modified, $content_hash, $decode_config, $status, $n_documents, $run_id.
INSERT INTO objects (key, size, etag, last_modified, content_hash, decode_config, status, n_documents, updated_run)
VALUES ($key, $size, $etag, $last_modified, $content_hash, $decode_config, $status, $n_documents, $run_id)
