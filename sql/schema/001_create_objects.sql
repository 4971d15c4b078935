-- objects: one row per bucket object ever seen; the change-detection state.
-- status: 'ok' (decoded), 'skipped' (see skips), 'deleted' (gone from the bucket).
CREATE TABLE IF NOT EXISTS objects (
    key            VARCHAR NOT NULL,
    size           BIGINT,
    etag           VARCHAR,
    last_modified  DOUBLE,
    content_hash   VARCHAR,
    decode_config  VARCHAR,
    status         VARCHAR NOT NULL,
    n_documents    INTEGER NOT NULL DEFAULT 0,
    updated_run    VARCHAR
)
