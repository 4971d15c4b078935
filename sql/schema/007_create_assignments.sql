-- assignments: each chunk's theme and subtheme in a run (NULL = noise / no subtheme).
CREATE TABLE IF NOT EXISTS assignments (
    run_id       VARCHAR NOT NULL,
    chunk_id     VARCHAR NOT NULL,
    theme_id     VARCHAR,
    subtheme_id  VARCHAR,
    centrality   FLOAT
)
