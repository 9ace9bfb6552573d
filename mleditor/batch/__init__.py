"""Door 2, batch predictions: precompute, store, look up.

Score every question of a dump (or a CSV, a Parquet file, a table) ahead of time, in chunks across
all cores or on Ray Data, into a prediction store (`mleditor.stores.predictions`) that the API and
the hybrid door read. `mleditor batch --help` shows the commands.
"""

from mleditor._exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "ChunkScorer": "mleditor.batch.scoring",
    "InputRow": "mleditor.batch.scoring",
    "JobSpec": "mleditor.batch.job",
    "JobSummary": "mleditor.batch.job",
    "ScheduleSpec": "mleditor.batch.schedule",
    "render_schedule": "mleditor.batch.schedule",
    "run_batch_job": "mleditor.batch.job",
})
