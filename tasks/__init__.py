"""themesift stages: one module per pipeline stage plus the shared pieces they use.

Stage modules (`ingest`, `chunk`, `embed`, `knn`, `cluster`, `summarize`, `publish`, `report`) hold plain,
typed functions that need no Prefect context, and one thin ``<stage>_task`` wrapper each.
"""
