"""Door 4, on device: compressed variants of a model directory, packed as bundles that run offline.

`variants` names each way to make a model smaller and builds it (`compress` for ONNX Runtime,
`litert` for LiteRT); `quality` measures what each costs against its source; `bundle` writes and
checks a bundle (the model file, `meta.json`, a manifest with every file's hash and the measured
quality); `runtime` answers questions from a bundle with the featurizer and one inference engine,
nothing else (no torch, no web framework, no network).
"""
