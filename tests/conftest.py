import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # on the import path through pytest.ini's pythonpath

# Modules that start servers, browsers, clusters or worker processes, or train beyond a few seconds: the full
# suite (CI) runs them; `pytest -m "not slow"` leaves them out for day-to-day work.
SLOW_MODULES = {
    "test_analysis_queue",
    "test_app_compare_classify",
    "test_app_home_train_gradients",
    "test_app_inside",
    "test_app_runs",
    "test_app_selections",
    "test_app_train_advanced",
    "test_archive",
    "test_bench",
    "test_browser",
    "test_browser_class",
    "test_browser_damage",
    "test_browser_links",
    "test_browser_polls",
    "test_browser_two_tabs",
    "test_cli_inside",
    "test_cli_lessons",
    "test_dashboard_sweep",
    "test_inside_reference",
    "test_ood",
    "test_package",
    "test_queue_and_damage",
    "test_ray",
    "test_readme",
    "test_reference",
    "test_store",
}


# Single tests (or the fixtures they share) that train or start processes for more than about 10 s on a quiet
# 2-core machine, in modules that are otherwise fast.
SLOW_TESTS = {
    "test_reproduce_writes_table_and_figure",
    "test_train_json_then_cached_then_list_show_export",
    "test_probe_init_json",
    "test_same_config_and_seed_give_the_same_first_epoch_losses",
    "test_cancel_then_resume_matches_an_uninterrupted_run",
    "test_compiled_training_is_the_same_run_and_still_probes",
    "test_sweep_command_trains_the_grid_once_then_answers_from_the_store",
    "test_gradients_of_deep_plain_nets_shatter_and_resnets_do_not",
    "test_training_error_in_eval_mode_and_test_points_during_training",
    "test_training_stores_config_history_metrics_and_weights",
    "test_a_stored_config_answers_from_the_store",
    "test_cifar10_paper_recipe_learns",
    "test_a_diverging_run_ends_as_diverged_with_a_message",
    "test_a_chosen_warmup_trains_its_steps_at_a_tenth_and_is_recorded",
    "test_describe_json_has_params_and_layers",
    "test_cli_list_and_show_carry_the_flag",
}
SLOW_FIXTURES = {"init_summary", "tiny_pair"}


def pytest_collection_modifyitems(items):
    for item in items:
        if (
            item.module.__name__ in SLOW_MODULES
            or item.originalname in SLOW_TESTS
            or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh run store in a temp dir; also set as RESNET_LAB_HOME for code that uses the default."""
    from core.runs.store import RunStore

    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "store"))
    return RunStore(tmp_path / "store")


def tiny_config(**overrides):
    """A network and data small enough to train in seconds on a CPU."""
    from core.engine.config import RunConfig

    base = dict(
        depth=8, dataset="builtin", subset=256, test_subset=200, epochs=1, batch_size=64, probe_every=2, device="cpu"
    )
    return RunConfig(**{**base, **overrides})


def tiny_train_args(subset: int, epochs: int, probe_every: int) -> list[str]:
    """``python -m core train`` arguments for a ResNet-8 on Shapes-10 that trains in seconds on a CPU."""
    return (
        f"--depth 8 --dataset builtin --subset {subset} --test-subset 200 --batch-size 32 --epochs {epochs} "
        f"--probe-every {probe_every} --device cpu"
    ).split()


@pytest.fixture
def cifar_dir():
    path = os.environ.get("RESNET_LAB_DATA")
    if not path:
        pytest.skip(
            "RESNET_LAB_DATA not set: point it at a directory holding cifar-10-batches-py to run CIFAR-10 tests"
        )
    return path
