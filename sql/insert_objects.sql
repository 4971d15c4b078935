-- Record a group of objects' state after reading them, from the registered Arrow table `objects_input`.
INSERT INTO objects (key, size, etag, last_modified, content_hash, decode_config, status, n_documents, updated_run)
SELECT key, size, etag, last_modified, content_hash, decode_config, status, n_documents, updated_run FROM objects_input
