-- Forget an object's catalog row (before re-inserting it). Params: $key.
DELETE FROM objects WHERE key = $key
