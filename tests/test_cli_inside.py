"""python -m core lesion / landscape / features: JSON out, the cache shared with the pages, clear errors."""

import json

import pytest
from conftest import tiny_config
from test_cli import cli


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory):
    from core.runs.execute import train
    from core.runs.store import RunStore

    root = tmp_path_factory.mktemp("cli_inside")
    store = RunStore(root)
    runs = [train(tiny_config(shortcut=s, probe_every=0), store).record.run_id for s in ("none", "A")]
    dense = train(tiny_config(shortcut="concat", probe_every=0), store).record.run_id
    return root, runs, dense


def test_lesion_json_then_from_the_cache(pair_store):
    root, (plain, resnet), _ = pair_store
    first = cli("lesion", resnet[:6], "--images", "50", "--k-images", "20", "--draws", "2", "--json", store=root)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["cached"] is False and out["model"] == "ResNet-8 (A)" and len(out["blocks"]) == 3
    assert [r["k"] for r in out["k_summary"]] == [0, 1, 2, 3] and len(out["k_curve"]) == 6
    assert 0 <= out["intact_error"] <= 1 and out["summary"]["worst"].startswith("stage")
    again = json.loads(
        cli("lesion", resnet, "--images", "50", "--k-images", "20", "--draws", "2", "--json", store=root).stdout
    )
    assert again["cached"] is True and again["blocks"] == out["blocks"]
    timed = cli("lesion", resnet, "--images", "50", "--k-images", "20", "--draws", "2", "--time", store=root)
    assert timed.returncode == 0 and "seconds: single-block sweep" in timed.stdout  # --time recomputes and reports
    text = cli("lesion", plain, "--images", "50", "--k-images", "0", store=root).stdout
    assert text.startswith("plain-8: intact") and "stage2.block0*" in text  # * marks the shape-changing blocks


def test_landscape_json_1d_and_2d(pair_store):
    root, (plain, resnet), _ = pair_store
    one = json.loads(cli("landscape", plain, "--grid", "5", "--batch", "16", "--json", store=root).stdout)
    assert one["kind"] == "1d" and len(one["loss"]) == 5 and one["alphas"][0] == -1.0 and one["cached"] is False
    assert {"log_slope", "local_minima"} <= set(one["smoothness"])
    two = json.loads(
        cli(
            "landscape", resnet, "--kind", "2d", "--grid", "3", "--span", "0.5", "--batch", "16", "--json", store=root
        ).stdout
    )
    assert len(two["loss"]) == 3 and len(two["loss"][0]) == 3 and two["betas"] == [-0.5, 0.0, 0.5]
    assert (
        json.loads(
            cli(
                "landscape",
                resnet,
                "--kind",
                "2d",
                "--grid",
                "3",
                "--span",
                "0.5",
                "--batch",
                "16",
                "--json",
                store=root,
            ).stdout
        )["cached"]
        is True
    )


def test_features_json(pair_store):
    root, (_, resnet), _ = pair_store
    out = json.loads(cli("features", resnet, "--image", "3", "--block", "stage3.block0", "--json", store=root).stdout)
    assert set(out["part_rms"]) == {"F(x)", "x (shortcut)", "F(x) + x", "output"}
    assert out["layers"]["stage3.block0"]["shape"] == [64, 8, 8] and len(out["response_std"]) == 7


@pytest.mark.parametrize(
    "args, message",
    [
        (["lesion", "nosuchrun"], "no run matches"),
        (["landscape", "{resnet}", "--grid", "500"], "grid must be an integer from 3 to 101"),
        (["landscape", "{resnet}", "--batch", "100000"], "batch must be an integer"),
        (["lesion", "{resnet}", "--images", "0"], "--images must be positive"),
        (["features", "{resnet}", "--block", "stage7.block0"], "no block 'stage7.block0'"),
        (["lesion", "{dense}"], "only the paper's CIFAR plain nets and ResNets"),
    ],
)
def test_bad_requests_get_a_clear_message(pair_store, args, message):
    root, (_, resnet), dense = pair_store
    result = cli(*[a.format(resnet=resnet, dense=dense) for a in args], "--json", store=root)
    assert result.returncode == 2 and message in json.loads(result.stdout)["error"] and message in result.stderr
