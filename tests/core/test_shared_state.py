"""What several hosts must share is shared: production's check names a cache that is one
process's own."""

from tests.core.test_production_settings import PRODUCTION_ENV, _run


def test_the_deploy_check_warns_of_a_cache_that_each_process_keeps_for_itself(tmp_path):
    own = _run("check", "--deploy", **PRODUCTION_ENV, VAR_DIR=str(tmp_path))
    shared = _run(
        "check", "--deploy", **PRODUCTION_ENV, VAR_DIR=str(tmp_path), CACHE_URL="redis://r:6379/1"
    )

    assert "keyship.W002" in own.stderr + own.stdout
    assert "CACHE_URL" in own.stderr + own.stdout
    assert "keyship.W002" not in shared.stderr + shared.stdout
