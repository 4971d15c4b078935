-- curation_events: what a person did to a collection's themes (tasks/core/curation.py): rename, merge, split,
-- withdraw. Written by the API into the state folder's curation journal and imported here by the curate stage;
-- every run re-applies the events in force, oldest first. payload is JSON text.
CREATE TABLE IF NOT EXISTS curation_events (
    event_id    VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    created_at  VARCHAR NOT NULL,
    payload     VARCHAR NOT NULL,
    imported_by VARCHAR
);
