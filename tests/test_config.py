import pytest

from core.config import ConfigError, RunConfig


def test_recipe_defaults_resolve_and_hash_equal():
    a = RunConfig(recipe="paper")
    b = RunConfig(recipe="paper", batch_size=128, lr=0.1, schedule="step", augment=True)
    assert a.run_id == b.run_id
    assert a.resolved().batch_size == 128 and RunConfig(recipe="seed").resolved().batch_size == 32
    assert RunConfig(recipe="seed").resolved().augment is False


def test_device_and_compile_do_not_change_the_run_id_but_the_seed_does():
    assert RunConfig(device="cpu").run_id == RunConfig(device="auto").run_id == RunConfig(compile=True).run_id
    assert RunConfig(seed=1).run_id != RunConfig(seed=2).run_id
    # The shipped reference runs are keyed by ids hashed before 'compile' existed: they must not move.
    assert RunConfig(depth=20, shortcut="none", dataset="builtin").run_id == "42969e22a77d"


def test_probe_frequency_changes_the_run_but_not_the_training():
    a, b = RunConfig(probe_every=5), RunConfig(probe_every=0, device="cpu", compile=True)
    assert a.run_id != b.run_id and a.training_key() == b.training_key()
    assert a.training_key() != RunConfig(probe_every=5, lr=0.05).training_key()


@pytest.mark.parametrize("field,value,words", [
    ("depth", 21, "6n+2"), ("depth", 2000, "[8, 1202]"), ("shortcut", "C", "A, B, none, concat"),
    ("epochs", 0, "[1, 500]"), ("batch_size", 0, "[1, 4096]"), ("lr", -1.0, "(0, 10]"),
    ("subset", 60000, "[1, 50000]"), ("recipe", "fast", "paper, seed"), ("device", "tpu", "auto, cpu, cuda"),
    ("compile", "yes", "true or false"),
])
def test_invalid_values_name_the_field_and_range(field, value, words):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{field: value})
    assert err.value.field == field and str(err.value).startswith(field) and words in str(err.value)


def test_config_is_frozen_and_round_trips():
    c = RunConfig(depth=56, shortcut="none", seed=3)
    with pytest.raises(Exception):
        c.depth = 20
    assert RunConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown field"):
        RunConfig.from_dict({"depht": 20})


def test_warmup_only_for_deep_paper_runs():
    assert RunConfig(depth=110).warmup_steps == 400
    assert RunConfig(depth=56).warmup_steps == 0 and RunConfig(depth=110, recipe="seed").warmup_steps == 0
