-- Drop an object's recorded skips (it is being re-read or is gone). Params: $key.
DELETE FROM skips WHERE object_key = $key
