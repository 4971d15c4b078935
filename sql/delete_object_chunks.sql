-- Drop an object's chunks (it changed or was deleted). Params: $key.
DELETE FROM chunks WHERE object_key = $key
