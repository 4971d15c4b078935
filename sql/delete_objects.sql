-- Forget a group of objects' catalog rows (before re-inserting them): the keys in the registered Arrow table
-- `keys_input`.
DELETE FROM objects WHERE key IN (SELECT key FROM keys_input)
