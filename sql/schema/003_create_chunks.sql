-- chunks: passages cut from documents; text_hash keys the embedding cache.
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id      VARCHAR NOT NULL,
    doc_id        VARCHAR NOT NULL,
    object_key    VARCHAR NOT NULL,
    ordinal       INTEGER NOT NULL,
    char_start    INTEGER NOT NULL,
    char_end      INTEGER NOT NULL,
    text          VARCHAR NOT NULL,
    text_hash     VARCHAR NOT NULL,
    chunk_config  VARCHAR NOT NULL
)
