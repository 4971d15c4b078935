-- documents: decoded text records; one per text file, JSON(L) record or CSV row.
CREATE TABLE IF NOT EXISTS documents (
    doc_id      VARCHAR NOT NULL,
    object_key  VARCHAR NOT NULL,
    record_no   INTEGER,
    record_id   VARCHAR,
    text        VARCHAR NOT NULL,
    n_chars     INTEGER NOT NULL,
    metadata    VARCHAR
)
