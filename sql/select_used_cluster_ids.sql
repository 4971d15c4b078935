-- Every theme and subtheme id any run has published (fresh ids never reuse one).
-- Output: cluster_id
SELECT DISTINCT cluster_id FROM clusters ORDER BY cluster_id
