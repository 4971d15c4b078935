-- Drop an object's documents (it changed or was deleted). Params: $key.
DELETE FROM documents WHERE object_key = $key
