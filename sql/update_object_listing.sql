-- An object whose listing changed but whose bytes did not (re-uploaded, touched): refresh its listing facts.
-- Params: $key, $size, $etag, $last_modified, $run_id.
UPDATE objects
SET size = $size, etag = $etag, last_modified = $last_modified, updated_run = $run_id
WHERE key = $key
