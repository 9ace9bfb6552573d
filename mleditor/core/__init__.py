"""The core every door builds on: ingestion, the featurizer spec, the model and the request pipeline."""
