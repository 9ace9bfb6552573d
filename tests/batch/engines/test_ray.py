"""The Ray Data engine runs the same chunk transform as the local engine: identical predictions, same store."""

from __future__ import annotations

import pytest

from mleditor.batch.job import JobSpec, run_batch_job
from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import JOB_COMPLETED
from tests.helpers import RAY_2_55_LEAKS

pytestmark = [pytest.mark.slow, *RAY_2_55_LEAKS]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'mleditor[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def stored(url: str) -> dict:
    with open_store(url) as store:
        return {(p.site, p.question_id): (p.score, p.recommendations, p.content_hash)
                for p in store.top_questions("beer", n=10_000, max_score=1.0)}


def test_ray_engine_stores_the_same_predictions_as_the_local_engine(local_ray, tmp_path, csv_file, questions):
    data = questions(400)
    data[10].update(title="", body="")
    path = csv_file(tmp_path / "q.csv", data)
    urls = {engine: f"sqlite:///{tmp_path / f'{engine}.db'}" for engine in ("local", "ray")}
    for engine, url in urls.items():
        spec = JobSpec(inputs=(str(path),), engine=engine, workers=2 if engine == "ray" else 1, chunk_size=64)
        with open_store(url) as store:
            job = run_batch_job(spec, store).job
            assert (job.status, job.rows_read, job.rows_scored, job.rows_failed) == (JOB_COMPLETED, 400, 399, 1)
            assert job.engine == engine
            [reject] = store.rejects(job.job_id)
            assert reject.question_id == 11 and reject.ordinal == 10
    local, on_ray = stored(urls["local"]), stored(urls["ray"])
    assert len(local) == 399 and on_ray == local  # bit for bit: scores, advice, hashes


def test_ray_engine_is_incremental_and_resumable_like_the_local_one(local_ray, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(150))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    spec = JobSpec(inputs=(str(path),), engine="ray", workers=2, chunk_size=50)
    with open_store(url) as store:
        run_batch_job(spec, store)
        again = run_batch_job(spec, store).job
        assert (again.rows_scored, again.rows_skipped) == (0, 150)
        assert store.count_predictions() == 150
