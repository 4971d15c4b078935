"""The ``themesift`` command line: run the pipeline, build the demo corpus, serve the deployments.

Errors a user can act on print as one ``error: <message>`` line and exit non-zero; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from flows.api.collection_store import RunFiles
from flows.api.security import hash_api_key, new_api_key
from flows.demo_corpus import build_demo_corpus
from flows.doctor import doctor as run_doctor
from flows.query import clusters, find, item_filter, items, open_run, phrases
from tasks.infra.errors import BucketNotFoundError, ConfigError, ThemesiftError
from tasks.infra.outputs import read_latest
from tasks.infra.params import RunParams, parse_param_overrides
from tasks.infra.progress import set_sink
from tasks.infra.query import QueryError, SqlFilter
from tasks.infra.runs import run_lock
from tasks.infra.settings import Settings, load_settings
from tasks.infra.storage import check_writable, nested_prefix, open_storage
from tasks.start import check_run_params

# Library switches (not themesift settings): offline model hub, no telemetry, a patient ephemeral API, and
# Prefect clients that retry a 500 (a Prefect server on SQLite answers "database is locked" under load).
for _key, _value in {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
                     "PREFECT_CLIENT_RETRY_EXTRA_CODES": "500", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)


app = typer.Typer(add_completion=False, no_args_is_help=True, help="themesift: find the themes in a bucket of text.")
console = Console(stderr=True)
STAGE_LABELS = {"ingest": "reading objects", "chunk": "chunking documents", "embed": "embedding passages"}
STAGE_UNITS = {"ingest": "objects", "chunk": "docs", "embed": "chunks"}


class RateColumn(ProgressColumn):
    """Units per second of a stage (``34.2 chunks/s``), from rich's own moving estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.1f} {unit}/s" if speed else f"– {unit}/s", style="progress.data.speed")


class BarSink:
    """Shows stage progress as rich bars (one per stage that reports progress)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, int] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self.bars:
            self.bars[stage] = self.progress.add_task(STAGE_LABELS.get(stage, stage), total=total,
                                                      unit=STAGE_UNITS.get(stage, "items"))
        self.progress.update(self.bars[stage], completed=done, total=total)


def resolve_corpus(corpus: Path, params: RunParams) -> tuple[str, RunParams]:
    """A folder becomes the bucket; a single file becomes its folder plus ``files=[name]``."""
    if not corpus.exists():
        raise ConfigError(f"corpus {corpus} does not exist; give a folder or a .jsonl/.csv/.txt file")
    if corpus.is_dir():
        return f"file://{corpus.resolve()}", params
    return f"file://{corpus.resolve().parent}", params.model_copy(update={"files": [corpus.name], "prefix": ""})


def check_locations(bucket: str | None, output: str | None) -> Settings:
    """Fail fast, before Prefect starts, when the settings, the bucket or the output are unusable: the bucket
    exists, the output is not the bucket itself, takes a write and holds a readable ``latest.json``."""
    settings = load_settings(bucket_url=bucket, output_url=output)
    open_storage(settings.bucket_url, settings=settings)
    if nested_prefix(settings.bucket_url, settings.output_url) == "":
        raise ConfigError(f"the output location {settings.output_url} is the bucket itself: every run would read "
                          "the reports of the last one; set THEMESIFT_OUTPUT_URL to another folder or prefix")
    out = open_storage(settings.output_url, create=True, settings=settings)
    check_writable(out)
    read_latest(out)
    return settings


class QuietKnownErrors(logging.Filter):
    """Drop the traceback Prefect's engine logs for our own errors: the CLI prints them as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ThemesiftError):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_known_errors() -> None:
    """Attach `QuietKnownErrors` to every handler of Prefect's loggers."""
    quiet = QuietKnownErrors()
    names = ["prefect", *(n for n in logging.root.manager.loggerDict if n.startswith("prefect."))]
    for name in names:
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(quiet)


def fail(exc: BaseException, debug: bool) -> None:
    """Print one error line (or the traceback with --debug) and exit non-zero."""
    if debug:
        raise exc
    console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    # 2: nothing works until a setting or parameter changes (a bucket that does not exist is one); 1: the rest.
    raise typer.Exit(2 if isinstance(exc, ConfigError | BucketNotFoundError) else 1)


def print_result(result: dict) -> None:
    """A short summary of a finished run."""
    table = Table(show_header=False, box=None)
    for label, value in (("run", result["run_id"]), ("chunks", f"{result['chunks']:,}"),
                         ("themes", result["themes"]), ("subthemes", result["subthemes"]),
                         ("noise", f"{result['noise_pct']}%"), ("skipped", result["skipped"]),
                         ("outputs", result["output_url"] + "/runs/" + result["run_id"] + "/")):
        table.add_row(f"[bold]{label}[/]", str(value))
    console.print(table)
    report = result["report_url"]
    print(report[len("file://"):] if report.startswith("file://") else report)


@app.command()
def run(
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Run parameter override key=value (repeatable).")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Bucket URL for this run (overrides THEMESIFT_BUCKET_URL).")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Output URL for this run (overrides THEMESIFT_OUTPUT_URL).")
    ] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="A local folder or a single .jsonl/.csv/.txt file to use as the bucket.")
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run the whole pipeline once and print where the report is."""
    try:
        params = parse_param_overrides(param or [])
        check_run_params(params)
        if corpus is not None:
            bucket, params = resolve_corpus(corpus, params)
        settings = check_locations(bucket, output)
        # Prefect costs 1-2 s to import: only `run` pays it, after the cheap checks above have passed.
        from flows.recluster import recluster_flow

        if not debug:
            quiet_known_errors()

        # The state's lock is held from here, before Prefect starts, to the end (the flow takes it again).
        with run_lock(settings.state_dir), Progress(
                TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bars:
            set_sink(BarSink(bars))
            try:
                result = recluster_flow(settings)(params=params, bucket_url=bucket, output_url=output)
            finally:
                set_sink(None)
    except ThemesiftError as exc:
        fail(exc, debug)
        return
    print_result(result)


@app.command("demo-corpus")
def demo_corpus(
    dest: Annotated[Path, typer.Argument(help="Folder to fill (becomes the demo bucket).")] = Path(
        ".themesift/demo-bucket"
    ),
) -> None:
    """Build the offline demo corpus: the standard library's docstrings, one Markdown file per module."""
    count = build_demo_corpus(dest)
    console.print(f"demo corpus: {count} documents in {dest}")


@app.command()
def params() -> None:
    """List every run parameter with its default and meaning."""
    table = Table("parameter", "default", "meaning")
    for name, field in RunParams.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        table.add_row(name, json.dumps(default), field.description or "")
    console.print(table)


@app.command()
def latest(
    output: Annotated[str | None, typer.Option(help="Output URL (default THEMESIFT_OUTPUT_URL).")] = None,
) -> None:
    """Print the latest published run's pointer (run id, manifest, report)."""
    try:
        settings = load_settings(output_url=output)
        pointer = read_latest(open_storage(settings.output_url))
    except ThemesiftError as exc:
        fail(exc, False)
        return
    if pointer is None:
        console.print("no published run yet")
        raise typer.Exit(1)
    print(json.dumps(pointer, indent=2))


@app.command()
def query(
    what: Annotated[str, typer.Argument(help="clusters, phrases (of --cluster), items (of --cluster or --phrase) "
                                             "or find (the themes of TEXT).")],
    text: Annotated[str | None, typer.Argument(help="The text to find (find only).")] = None,
    output: Annotated[str | None, typer.Option(help="Output URL (default THEMESIFT_OUTPUT_URL; a collection's "
                                                    "is <output>/collections/<name>).")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Run id (default: the latest promoted run).")] = None,
    cluster: Annotated[str | None, typer.Option(help="A theme or subtheme id (t3, t3.1).")] = None,
    phrase: Annotated[str | None, typer.Option(help="A phrase id (items of one phrase).")] = None,
    where: Annotated[str | None, typer.Option(help="properties-query: lang eq 'en' and score gte 4")] = None,
    from_date: Annotated[str | None, typer.Option(help="Keep items from this date (ISO 8601).")] = None,
    to_date: Annotated[str | None, typer.Option(help="Keep items up to this date (ISO 8601).")] = None,
    date_field: Annotated[str, typer.Option(help="Metadata field the dates apply to.")] = "last_modified",
    page: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    threshold: Annotated[float, typer.Option(help="find: least cosine of a theme's nearest chunk.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Query a published run's clusters, phrases and items (runs with publish_items), as the collection routes do."""
    try:
        settings = load_settings(output_url=output)
        files = open_run(settings, run_id)
        rows, total = run_query(files, settings, what, text, cluster, phrase,
                                item_filter(where, from_date, to_date, date_field), page, limit, threshold)
    except (ThemesiftError, QueryError) as exc:
        fail(exc, debug)
        return
    print_rows(rows, as_json)
    console.print(f"run {files.run_id}: {len(rows)} of {total} {what}" + (f", page {page}" if total > limit else ""))


def run_query(files: RunFiles, settings: Settings, what: str, text: str | None, cluster: str | None,
              phrase: str | None, where: SqlFilter | None, page: int, limit: int,
              threshold: float) -> tuple[list[dict], int]:
    """The rows of one ``themesift query`` and how many there are in all."""
    if what == "clusters":
        rows = clusters(files, where)
        return rows[page * limit:(page + 1) * limit], len(rows)
    if what == "phrases" and cluster:
        return phrases(files, cluster, where, page, limit)
    if what == "items" and (cluster or phrase):
        return items(files, "phrase" if phrase else "cluster", phrase or cluster or "", where, page, limit)
    if what == "find" and text:
        found = find(files, settings, text, threshold=threshold, limit=limit)
        return found, len(found)
    raise ConfigError("query clusters | phrases --cluster ID | items --cluster ID | items --phrase ID | find TEXT")


def print_rows(rows: list[dict], as_json: bool) -> None:
    """Rows as JSON lines, or as a table of their short columns."""
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return
    if not rows:
        return
    table = Table(show_lines=False)
    columns = [c for c in rows[0] if c not in ("metadata", "collection", "char_start", "char_end", "doc_id")]
    for column in columns:
        table.add_column(column, overflow="fold", max_width=80 if column == "text" else None)
    for row in rows:
        table.add_row(*(escape(" ".join(str(row[c]).split())[:300]) for c in columns))
    Console().print(table)


@app.command()
def serve(
    worker: Annotated[
        bool,
        typer.Option("--worker", help="Register them on the themesift-local work pool and run a process worker "
                                      "(as `make serve` does)."),
    ] = False,
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Serve recluster/nightly (cron 0 2 * * * UTC) and recluster/adhoc as prefect.yaml declares them, until Ctrl-C.

    Without PREFECT_API_URL a local Prefect server is started on 127.0.0.1 first (and stopped on exit).
    """
    # Prefect and its server client cost 1-2 s to import: only `serve` pays it.
    from flows.serve import serve_deployments

    try:
        serve_deployments(worker=worker, port=port)
    except ThemesiftError as exc:
        fail(exc, debug)


@app.command()
def api(
    port: Annotated[int | None, typer.Option(help="Port of the API (default THEMESIFT_API_PORT, 8000).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    prefect_port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run a process worker for the jobs here (as `make api`).")
    ] = True,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Serve the HTTP API (Telnyx Clusters' routes under /v2/ai/clusters) with the Prefect server and worker it needs.

    Without PREFECT_API_URL a local Prefect server is started on 127.0.0.1 first (and stopped on exit).
    """
    # FastAPI, uvicorn and Prefect cost seconds to import: only `api` pays it.
    from flows.api.server import serve_api

    try:
        serve_api(host=host, port=port, prefect_port=prefect_port, worker=worker)
    except ThemesiftError as exc:
        fail(exc, debug)


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option(help="Set a damaged catalog aside (keeping what reads), quarantine "
                                              "unreadable cache parts, re-point a damaged latest.json.")] = False,
    output: Annotated[str | None, typer.Option(help="Output URL (default THEMESIFT_OUTPUT_URL).")] = None,
) -> None:
    """Check the state folder and the output (catalog, embedding cache, latest.json); exit 1 if anything is
    wrong and was not repaired."""
    try:
        findings = run_doctor(load_settings(output_url=output), repair=repair)
    except ThemesiftError as exc:
        fail(exc, False)
        return
    report = Console()  # the findings are the command's output: stdout
    for f in findings:
        label, colour = ("ok", "green") if f.ok else ("repaired", "yellow") if f.repaired else ("damaged", "red")
        repaired = f"\n{'':<10}→ {f.repaired}" if f.repaired else ""
        report.print(f"[{colour}]{label:<9}[/] {f.what}: {f.detail}{repaired}", highlight=False, soft_wrap=True)
    if any(not f.ok and not f.repaired for f in findings):
        report.print("run `themesift doctor --repair` to mend what can be mended", highlight=False)
        raise typer.Exit(1)


@app.command("api-key")
def api_key() -> None:
    """Make a new API key: prints the key (give it to the client) and its SHA-256 (for THEMESIFT_API_KEY_HASHES)."""
    key = new_api_key()
    print(f"key:    {key}\nsha256: {hash_api_key(key)}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
