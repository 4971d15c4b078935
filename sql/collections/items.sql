-- One page of the items of a theme, a subtheme or a phrase ($scope: 'cluster' or 'phrase'; $id) that a filter
-- keeps, most central first. Params: $items, $scope, $id, $limit, $offset and the condition's own.
-- Output: chunk_id, doc_id, object_key, char_start, char_end, text, metadata, last_modified, theme_id,
-- subtheme_id, phrase_id, centrality, total (items in all pages)
SELECT i.chunk_id, i.doc_id, i.object_key, i.char_start, i.char_end, i.text, i.metadata, i.last_modified,
       i.theme_id, i.subtheme_id, i.phrase_id, i.centrality, count(*) OVER () AS total
FROM read_parquet($items) AS i
WHERE CASE WHEN $scope = 'phrase' THEN i.phrase_id = $id ELSE (i.theme_id = $id OR i.subtheme_id = $id) END
  AND /*where*/TRUE
ORDER BY i.centrality DESC NULLS LAST, i.chunk_id
LIMIT $limit OFFSET $offset
