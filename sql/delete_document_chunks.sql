-- Drop old chunks of the documents being re-chunked (registered Arrow table `doc_ids_input`).
DELETE FROM chunks WHERE doc_id IN (SELECT doc_id FROM doc_ids_input)
