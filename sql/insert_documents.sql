-- Append decoded documents from the registered Arrow table `documents_input`.
INSERT INTO documents (doc_id, object_key, record_no, record_id, text, n_chars, metadata)
SELECT doc_id, object_key, record_no, record_id, text, n_chars, metadata FROM documents_input
