"""Infrastructure below every stage and algorithm: settings and run parameters, errors, the DuckDB catalog,
storage backends, run scratch paths and published outputs, progress and the lazy Prefect task decorator.
Nothing here imports `tasks.core` or a stage."""
