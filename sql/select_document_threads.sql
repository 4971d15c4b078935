-- Each given document's thread (the run's `context_field`): its metadata value at JSON path $path (NULL where the
-- record has none) and its record number, for documents in the registered Arrow table `doc_ids_input` (doc_id).
-- Output: doc_id, record_no, thread
SELECT d.doc_id, d.record_no, json_extract_string(d.metadata, $path) AS thread
FROM doc_ids_input AS i
JOIN documents AS d ON d.doc_id = i.doc_id
