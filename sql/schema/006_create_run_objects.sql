-- run_objects: every object listed for a run, with its status ('ok' objects make up the corpus).
CREATE TABLE IF NOT EXISTS run_objects (
    run_id      VARCHAR NOT NULL,
    object_key  VARCHAR NOT NULL,
    status      VARCHAR NOT NULL
)
