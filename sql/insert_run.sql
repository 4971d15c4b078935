-- Open a run. Params: $run_id, $started_at, $params, $settings.
INSERT INTO runs (run_id, started_at, status, params, settings)
VALUES ($run_id, $started_at, 'running', $params, $settings)
