-- Append chunks from the registered Arrow table `chunks_input`.
INSERT INTO chunks (chunk_id, doc_id, object_key, ordinal, char_start, char_end, text, text_hash, chunk_config)
SELECT chunk_id, doc_id, object_key, ordinal, char_start, char_end, text, text_hash, chunk_config FROM chunks_input
