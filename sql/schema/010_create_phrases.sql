-- phrases: each run's groups of near-duplicate passages inside a theme (tasks/core/phrases.py), with the chunk
-- that represents them; assignments.phrase_id says which phrase each chunk is in.
CREATE TABLE IF NOT EXISTS phrases (
    run_id       VARCHAR NOT NULL,
    phrase_id    VARCHAR NOT NULL,
    theme_id     VARCHAR,
    subtheme_id  VARCHAR,
    chunk_id     VARCHAR NOT NULL,
    items_count  INTEGER NOT NULL,
    variants     INTEGER NOT NULL
);
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS phrase_id VARCHAR;
