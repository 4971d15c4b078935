"""Embedding: the model's identity and cache key (`identity`), the engines (`engines`, `bert_torch`,
`onnx_build`) and the Parquet vector cache (`cache`)."""
