-- One page of the items of a theme, a subtheme or a phrase ($scope: 'cluster' or 'phrase'; $id) that a filter
-- keeps, most central first. Params: $items, $scope, $id, $limit, $offset and the condition's own.
-- Output: every column of items.parquet (chunk_id, doc_id, object_key, char_start, char_end, text, metadata,
-- last_modified, theme_id, subtheme_id, phrase_id, centrality, and page, page_end in runs since they were
-- added), total (items in all pages)
SELECT i.*, count(*) OVER () AS total
FROM read_parquet($items) AS i
WHERE CASE WHEN $scope = 'phrase' THEN i.phrase_id = $id ELSE (i.theme_id = $id OR i.subtheme_id = $id) END
  AND /*where*/TRUE
ORDER BY i.centrality DESC NULLS LAST, i.chunk_id
LIMIT $limit OFFSET $offset
