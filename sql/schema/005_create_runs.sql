-- runs: one row per flow run; status 'running' until publish marks it 'complete'.
CREATE TABLE IF NOT EXISTS runs (
    run_id         VARCHAR NOT NULL,
    started_at     TIMESTAMP,
    finished_at    TIMESTAMP,
    status         VARCHAR NOT NULL,
    params         VARCHAR,
    settings       VARCHAR,
    counts         VARCHAR,
    output_prefix  VARCHAR
)
