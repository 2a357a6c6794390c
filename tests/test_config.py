import dataclasses
import itertools

import pytest

from core.engine.config import ConfigError, RunConfig


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


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("depth", 21, "6n+2"),
        ("depth", 2000, "[8, 1202]"),
        ("shortcut", "C", "A, B, none, concat"),
        ("epochs", 0, "[1, 500]"),
        ("batch_size", 0, "[1, 4096]"),
        ("lr", -1.0, "(0, 10]"),
        ("subset", 60000, "[1, 50000]"),
        ("recipe", "fast", "paper, seed"),
        ("device", "tpu", "auto, cpu, cuda"),
        ("compile", "yes", "true or false"),
    ],
)
def test_invalid_values_name_the_field_and_range(field, value, words):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{field: value})
    assert err.value.field == field and str(err.value).startswith(field) and words in str(err.value)


def test_config_is_frozen_and_round_trips():
    c = RunConfig(depth=56, shortcut="none", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.depth = 20
    assert RunConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown field"):
        RunConfig.from_dict({"depht": 20})


def test_the_recipes_warmup_only_for_deep_paper_runs_and_capped_at_a_tenth():
    assert RunConfig(depth=110).recipe_warmup == 400
    assert RunConfig(depth=56).recipe_warmup == 0 and RunConfig(depth=110, recipe="seed").recipe_warmup == 0
    assert RunConfig(depth=110).warmup_for(64_000) == 400 and RunConfig(depth=110).warmup_for(1000) == 101
    assert RunConfig(depth=56).warmup_for(64_000) == 0


def test_a_chosen_warmup_is_kept_exactly_and_named_in_the_label():
    c = RunConfig(depth=20, warmup=250)
    assert c.warmup_for(64_000) == 250 and c.warmup_for(100) == 100  # never more steps than the run has
    assert "warm-up 250 steps" in c.label and c.label.split(" · ")[1].startswith("SGD,")
    assert "no warm-up" in RunConfig(depth=110, warmup=0).label
    assert "warm-up" not in RunConfig(depth=110).label


def test_warmup_zero_where_the_recipe_has_none_is_the_same_run_and_old_ids_stay():
    assert RunConfig(depth=20, warmup=0).run_id == RunConfig(depth=20).run_id
    assert RunConfig(depth=20, warmup=0).label == RunConfig(depth=20).label
    assert RunConfig(depth=110, warmup=0).run_id != RunConfig(depth=110).run_id
    assert RunConfig(depth=20, warmup=10).run_id != RunConfig(depth=20).run_id
    assert RunConfig(depth=20, shortcut="none", dataset="builtin").run_id == "42969e22a77d"


def test_a_ramped_warmup_is_another_run_and_runs_without_one_keep_their_ids():
    assert RunConfig(depth=20, warmup_ramp=False).run_id == RunConfig(depth=20).run_id
    assert RunConfig(depth=20, shortcut="none", dataset="builtin", warmup_ramp=False).run_id == "42969e22a77d"
    ramped = RunConfig(depth=56, warmup=400, warmup_ramp=True)
    assert ramped.run_id != RunConfig(depth=56, warmup=400).run_id
    assert "ramped warm-up 400 steps" in ramped.label
    assert "ramped warm-up" in RunConfig(depth=110, warmup_ramp=True).label  # the recipe's 400 steps, ramped
    assert RunConfig.from_dict(ramped.to_dict()) == ramped
    for bad in ({"warmup_ramp": True}, {"warmup_ramp": True, "warmup": 0}, {"warmup_ramp": "yes", "warmup": 10}):
        with pytest.raises(ConfigError) as err:
            RunConfig(depth=20, **bad)
        assert err.value.field == "warmup_ramp"


@pytest.mark.parametrize("value", [-1, 100_001, 2.5, True, "400"])
def test_an_invalid_warmup_names_the_field(value):
    with pytest.raises(ConfigError) as err:
        RunConfig(warmup=value)
    assert err.value.field == "warmup" and "[0, 100000]" in str(err.value)


def test_labels_are_exact_and_unique_for_runs_that_train_differently():
    assert "1,100 imgs" in RunConfig(subset=1100).label and "1,600 imgs" in RunConfig(subset=1600).label
    assert "lr 0.12345678" in RunConfig(lr=0.12345678).label and "lr 3e-05" in RunConfig(lr=3e-5).label
    grid = itertools.product(
        ("paper", "seed"),
        (None, 1000, 1100, 1500, 1600, 20_000),
        (None, 500, 510),
        (None, 0.1, 0.1000001, 3e-4),
        (None, 16, 128),
        (None, "step", "cosine", "constant"),
        (None, True, False),
        (None, 0, 400),
        ((20, "A", True), (110, "A", True), (20, "none", True), (20, "A", False)),
        ("builtin", "cifar10"),
        (0, 1),
        ("auto", "bf16"),
    )
    seen: dict[str, str] = {}
    count = 0
    for recipe, subset, test_subset, lr, batch, schedule, augment, warmup, (
        depth,
        shortcut,
        bn,
    ), dataset, seed, precision in grid:
        count += 1
        if count % 5:  # every fifth combination keeps the test quick (the grid is ~60k)
            continue
        c = RunConfig(
            recipe=recipe,
            subset=subset,
            test_subset=test_subset,
            lr=lr,
            batch_size=batch,
            schedule=schedule,
            augment=augment,
            warmup=warmup,
            depth=depth,
            shortcut=shortcut,
            bn=bn,
            dataset=dataset,
            seed=seed,
            precision=precision,
        )
        key = c.training_key()
        assert seen.setdefault(c.label, key) == key, f"two different runs share the label {c.label!r}"
    assert len(seen) > 5_000
