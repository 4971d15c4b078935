"""themesift's HTTP API: Telnyx Inference's Clusters routes under ``/v2/ai/clusters``, on Prefect flow runs.

``app`` builds the FastAPI application, ``schemas`` its request and response models, ``security`` the bearer
keys and the bucket allow-list, ``jobs`` the queue (a POST is a flow run of ``recluster/adhoc``), ``results``
what a finished run published, and ``server`` what ``themesift api`` starts around it.
"""
