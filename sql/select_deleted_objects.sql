-- Objects under a prefix that the catalog knows but the listing no longer has.
-- Params: $prefix. Output: key
SELECT o.key
FROM objects AS o
WHERE o.status <> 'deleted'
  AND starts_with(o.key, $prefix)
  AND o.key NOT IN (SELECT key FROM listing)
ORDER BY o.key
