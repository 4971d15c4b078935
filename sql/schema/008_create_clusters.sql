-- clusters: every theme and subtheme a run published, with its centroid (the next run matches against them).
-- level: 'theme' or 'subtheme'; parent_id is the theme id of a subtheme.
CREATE TABLE IF NOT EXISTS clusters (
    run_id     VARCHAR NOT NULL,
    cluster_id VARCHAR NOT NULL,
    parent_id  VARCHAR,
    level      VARCHAR NOT NULL,
    size       INTEGER NOT NULL,
    header     VARCHAR,
    centroid   FLOAT[]
)
