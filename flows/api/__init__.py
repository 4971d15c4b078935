"""themesift's HTTP API: Telnyx Inference's Clusters and Embeddings routes under ``/v2/ai``, on Prefect flow runs.

``app`` builds the FastAPI application and the cluster routes, ``embeddings`` the embedding routes,
``schemas`` the request and response models, ``errors`` the refusals, ``security`` the bearer keys and the
bucket allow-list, ``buckets`` the checked bucket of a request, ``jobs`` the queue (a POST is a flow run of
``recluster/adhoc`` or ``embed/adhoc``), ``results`` what a finished clustering published, ``search`` a
bucket's search index, and ``server`` what ``themesift api`` starts around it.
"""
