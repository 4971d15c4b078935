-- A collection's themes over the items a filter keeps (the marker: TRUE or a condition compiled by
-- tasks.infra.query over the alias i), with how many items and phrases each holds there.
-- Params: $items (the run's items.parquet) and the condition's own. Output: theme_id, items_count, phrases_count
SELECT i.theme_id, count(*) AS items_count, count(DISTINCT i.phrase_id) AS phrases_count
FROM read_parquet($items) AS i
WHERE i.theme_id IS NOT NULL AND /*where*/TRUE
GROUP BY i.theme_id
