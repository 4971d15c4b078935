-- The phrases of one theme or subtheme over the items a filter keeps, most items first, one page.
-- Params: $items, $phrases (the run's parquet files), $cluster_id, $limit, $offset and the condition's own.
-- Output: phrase_id, text, items_count, theme_id, subtheme_id, total (phrases in all pages)
WITH kept AS (
    SELECT i.phrase_id, count(*) AS items_count
    FROM read_parquet($items) AS i
    WHERE (i.theme_id = $cluster_id OR i.subtheme_id = $cluster_id) AND /*where*/TRUE
    GROUP BY i.phrase_id
)
SELECT k.phrase_id, p.text, k.items_count, p.theme_id, p.subtheme_id, count(*) OVER () AS total
FROM kept AS k
JOIN read_parquet($phrases) AS p ON p.phrase_id = k.phrase_id
ORDER BY k.items_count DESC, k.phrase_id
LIMIT $limit OFFSET $offset
