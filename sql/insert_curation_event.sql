-- Record one curation event (imported from the journal; importing it again changes nothing).
-- Params: $event_id, $kind, $created_at, $payload (JSON text), $run_id (the run that imported it).
INSERT INTO curation_events (event_id, kind, created_at, payload, imported_by)
VALUES ($event_id, $kind, $created_at, $payload, $run_id)
ON CONFLICT (event_id) DO NOTHING
