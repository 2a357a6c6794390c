import pickle

import pytest
import torch
import torch.nn as nn

from core.engine.models import CifarResNet, build_model, count_params, depth_to_n, resnet20, resnet56, weighted_layers
from core.engine.torchvision_models import torchvision_resnet18

# He et al. 2015, Table 6 (millions of parameters), option A.
PAPER_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}


@pytest.mark.parametrize("depth,paper", PAPER_PARAMS_M.items())
def test_parameter_counts_match_table_6(depth, paper):
    params = count_params(build_model(depth=depth, shortcut="A"))
    assert abs(params / 1e6 - paper) / paper < 0.02, params


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_plain_net_has_exactly_the_parameters_of_option_a(depth):
    assert count_params(build_model(depth=depth, shortcut="none")) == count_params(
        build_model(depth=depth, shortcut="A")
    )


def test_option_b_adds_only_the_two_projections():
    # two 1x1 convs (16->32, 32->64) and their BNs
    extra = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert count_params(resnet20(shortcut="B")) - count_params(resnet20(shortcut="A")) == extra


@pytest.mark.parametrize("shortcut", ["A", "B", "none", "concat"])
@pytest.mark.parametrize("bn", [True, False])
def test_forward_shapes_and_6n_plus_2_weighted_layers(shortcut, bn):
    model = CifarResNet(2, shortcut=shortcut, bn=bn)
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    convs_3x3 = [n for n, m in weighted_layers(model) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs_3x3) + 1 == 14  # 6n+2 counts the 3x3 convs and the fc layer


def test_layer_names_are_stable_and_readable():
    names = [n for n, _ in weighted_layers(resnet20())]
    assert names[:3] == ["conv1", "stage1.block0.conv1", "stage1.block0.conv2"]
    assert "stage2.block0.conv1" in names and "stage3.block2.conv2" in names and names[-1] == "fc"
    assert len(names) == 20


def test_each_relu_is_its_own_module_and_models_pickle():
    model = resnet56(shortcut="B")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) == 1 + 2 * 27
    pickle.loads(pickle.dumps(model))
    tv = torchvision_resnet18()
    pickle.loads(pickle.dumps(tv))
    tv_relus = [m for m in tv.modules() if isinstance(m, nn.ReLU)]
    assert len(tv_relus) == 1 + 2 * 8


def test_option_a_shortcut_is_identity_plus_zero_padding():
    model = resnet20(shortcut="A")
    block = model.stage2.block0
    x = torch.randn(2, 16, 32, 32)
    out = block.shortcut(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and torch.count_nonzero(out[:, 16:]) == 0
    assert isinstance(model.stage1.block0.shortcut, nn.Identity)


def test_plain_block_does_not_add_its_input():
    torch.manual_seed(0)
    plain, res = resnet20(shortcut="none"), resnet20(shortcut="A")
    res.load_state_dict(plain.state_dict())
    x = torch.randn(2, 16, 32, 32)
    plain.eval(), res.eval()
    assert not torch.allclose(plain.stage1.block0(x), res.stage1.block0(x))


def test_dense_width_stays_bounded():
    model = CifarResNet(9, shortcut="concat")
    widths = [m.out_channels for n, m in weighted_layers(model) if n.endswith("merge")]
    assert set(widths) == {16, 32, 64}


def test_torchvision_resnet18_takes_32x32():
    model = torchvision_resnet18()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model.conv1.kernel_size == (3, 3) and isinstance(model.maxpool, nn.Identity)


@pytest.mark.parametrize("bad", [7, 21, 0, -4])
def test_depth_must_be_6n_plus_2(bad):
    with pytest.raises(ValueError, match="6n\\+2"):
        depth_to_n(bad)


def test_kaiming_init_differs_from_default():
    torch.manual_seed(0)
    a = resnet20(init="kaiming").conv1.weight.std().item()
    torch.manual_seed(0)
    b = resnet20(init="default").conv1.weight.std().item()
    assert abs(a - (2 / 27) ** 0.5) < 0.05 and b < a
