-- Drop the documents of a group of objects (changed, re-read or deleted): the keys in the registered Arrow
-- table `keys_input`.
DELETE FROM documents WHERE object_key IN (SELECT key FROM keys_input)
