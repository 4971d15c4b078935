-- Every curation event, oldest first. Output: event_id, kind, created_at, payload
SELECT event_id, kind, created_at, payload FROM curation_events ORDER BY created_at, event_id
