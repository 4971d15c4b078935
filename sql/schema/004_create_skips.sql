-- skips: objects or records that could not be used, with a reason code; replaced when the object changes.
CREATE TABLE IF NOT EXISTS skips (
    object_key  VARCHAR NOT NULL,
    record_no   INTEGER,
    reason      VARCHAR NOT NULL,
    detail      VARCHAR,
    run_id      VARCHAR
)
