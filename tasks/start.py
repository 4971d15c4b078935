"""Start stage: check the run's parameters, tidy up after killed runs, register the run, resolve the previous one.

Everything a run could fail on before any work is checked here (parameter values, summarizer names), so a
typo fails in a second instead of after embedding. The run the new one is compared with (the one
``latest.json`` points at) is resolved once, here, and handed to every stage in the `RunRef`.
"""

from __future__ import annotations

import json

from tasks.core.embedding.engines import check_device, resolve_backend
from tasks.core.summarizers import check_summarizers
from tasks.fan_out import fans_out
from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.errors import ConfigError
from tasks.infra.outputs import latest_run_id, recover_unfinished_runs
from tasks.infra.params import RunParams, validate_params
from tasks.infra.runs import RunRef, check_run_id, new_run_id, scratch_dir, utc_now
from tasks.infra.settings import Settings, load_settings
from tasks.infra.stage import stage_logger, stage_task
from tasks.infra.storage import check_writable, nested_prefix, open_storage


def check_run_params(params: RunParams) -> None:
    """Refuse parameters that are valid for the schema but name things that do not exist (summarizers).

    Raises:
        ConfigError: naming the unknown value and the known ones.
    """
    check_summarizers(params.summarizers)


def prepare_run(params: RunParams | dict | None, *, bucket_url: str | None = None, output_url: str | None = None,
                state_dir: str | None = None, run_id: str | None = None) -> tuple[RunParams, Settings]:
    """What every flow checks before taking the state lock: the parameters (schema and names), the settings
    with this run's overrides, and a run id given from outside.

    Raises:
        ConfigError: naming the bad parameter, setting or run id.
    """
    params = validate_params(params)
    check_run_params(params)
    settings = load_settings(bucket_url=bucket_url, output_url=output_url, state_dir=state_dir)
    if nested_prefix(settings.bucket_url, settings.output_url) == "":
        raise ConfigError(f"the output location {settings.output_url} is the bucket itself: every run would read "
                          "the reports of the last one; set THEMESIFT_OUTPUT_URL to another folder or prefix")
    if run_id is not None:
        check_run_id(run_id)
    resolve_backend(settings.embed_backend, device=settings.device)  # an ONNX backend on cuda, fp16 on a CPU
    if settings.device != "cpu" and not fans_out(settings):
        check_device(settings.device)  # on Dask the GPUs are the workers': they check when they load the model
    return params, settings


def start_run(catalog: Catalog, settings: Settings, params: RunParams, run_id: str | None = None,
              previous_run_id: str | None = None) -> RunRef:
    """Register a run in the catalog and create its scratch folder."""
    run_id = run_id or new_run_id()
    scratch = scratch_dir(settings.state_dir, run_id).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    catalog.run("insert_run", {"run_id": run_id, "started_at": started.rstrip("Z"),
                               "params": params.model_dump_json(), "settings": json.dumps(settings.describe())})
    return RunRef(run_id, str(scratch), started, previous_run_id if previous_run_id != run_id else None)


@stage_task(name="start-run")
def start_run_task(settings: Settings, params: RunParams, run_id: str | None = None) -> RunRef:
    """Tidy up after killed runs, then register this run, create its scratch folder and find the previous run."""
    output = open_storage(settings.output_url, create=True, settings=settings)
    check_writable(output)  # a read-only, full or forbidden output fails now, not after the embedding
    latest = latest_run_id(output)  # read once per run: every later stage gets it in the RunRef
    with open_catalog(settings.catalog_path) as catalog:
        interrupted = recover_unfinished_runs(catalog, output, settings.state_dir, latest)
        if interrupted:
            stage_logger().warning(f"start-run: {len(interrupted)} killed run(s) marked interrupted and their "
                                   f"partial outputs removed: {', '.join(interrupted)}")
        return start_run(catalog, settings, params, run_id, latest)
