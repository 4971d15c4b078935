-- The most repeated phrases of some themes over the items a filter keeps, at most $per_cluster each.
-- Params: $items, $phrases, $theme_ids (list), $per_cluster and the condition's own.
-- Output: theme_id, phrase_id, text, items_count
WITH kept AS (
    SELECT i.theme_id, i.phrase_id, count(*) AS items_count
    FROM read_parquet($items) AS i
    WHERE list_contains($theme_ids, i.theme_id) AND /*where*/TRUE
    GROUP BY i.theme_id, i.phrase_id
), ranked AS (
    SELECT k.*, row_number() OVER (PARTITION BY k.theme_id ORDER BY k.items_count DESC, k.phrase_id) AS rank
    FROM kept AS k
)
SELECT r.theme_id, r.phrase_id, p.text, r.items_count
FROM ranked AS r
JOIN read_parquet($phrases) AS p ON p.phrase_id = r.phrase_id
WHERE r.rank <= $per_cluster
ORDER BY r.theme_id, r.rank
