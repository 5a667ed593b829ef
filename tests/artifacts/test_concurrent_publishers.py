import multiprocessing

from policy_artifacts import ArtifactLimits, list_versions, read_verified


def _publish_several(root, count, barrier):
    from tests.helpers import publish_models, random_models

    actor, critic = random_models()
    barrier.wait()
    for _ in range(count):
        publish_models(root, "p", actor, critic)


def test_two_concurrent_publishers_get_distinct_complete_versions(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_publish_several, args=(tmp_path, 4, barrier)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert list_versions(tmp_path, "p") == list(range(1, 9))
    for version in range(1, 9):
        assert read_verified(tmp_path, "p", version, ArtifactLimits()).manifest.version == version
