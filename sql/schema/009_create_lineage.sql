-- lineage: what happened to each theme and subtheme between a run and the previous published run.
-- event: born, grew, shrank, split, merged, died or stable; moved_share: share of shared members that moved.
CREATE TABLE IF NOT EXISTS lineage (
    run_id           VARCHAR NOT NULL,
    previous_run_id  VARCHAR,
    level            VARCHAR NOT NULL,
    cluster_id       VARCHAR NOT NULL,
    event            VARCHAR NOT NULL,
    previous_ids     VARCHAR[],
    current_ids      VARCHAR[],
    size_before      INTEGER,
    size_after       INTEGER,
    moved_share      DOUBLE
)
