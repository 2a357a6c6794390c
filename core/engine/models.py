"""CIFAR-10 ResNets and plain networks of He et al. 2015 (Section 4.2), plus torchvision's ResNet-18.

The CIFAR network has 6n+2 weighted layers: a 3x3 conv with 16 filters, three stages of n blocks
(16, 32, 64 filters on 32x32, 16x16, 8x8 maps), global average pooling and a 10-way linear layer.
Every block holds two 3x3 convs; what joins the block's input to its output is the shortcut kind:

- ``A``: identity; where the shape changes, take every second pixel and zero-pad the new channels.
  No parameters, so ResNet-n(A) has exactly the parameters of plain-n.
- ``B``: identity, but a 1x1 conv + BN projection (F(x) + Wx) where the shape changes.
- ``none``: the plain net, the same layers with no addition.
- ``concat``: concatenate + 1x1 merge. The block output is concatenated with its (subsampled) input
  instead of added to it, and a 1x1 "merge" conv (+ BN) maps the doubled channels back to the stage
  width. It is neither DenseNet (whose blocks keep every earlier feature map) nor a growing
  concatenation: the learned merge replaces the identity path, so at initialisation it is another plain stack.

Layer names are stable and readable (``conv1``, ``stage2.block0.conv1``, ``fc``): every probe,
table and chart uses them. Each ReLU is its own module (Captum needs one per call site).
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

SHORTCUTS = ("A", "B", "none", "concat")
INITS = ("kaiming", "default")
# The paper's CIFAR-10 depths (Sec. 4.2): Fig. 6 trains plain nets and ResNets of FIG6_DEPTHS; Table 6 adds 110, 1202.
FIG6_DEPTHS = (20, 32, 44, 56)
RESNET_DEPTHS = (*FIG6_DEPTHS, 110)
NAMED_DEPTHS = (*RESNET_DEPTHS, 1202)
PROBE_DEPTHS = (20, 56, 110)  # shallow, deep and deepest: the grid of gradient probes at initialisation
STAGE_WIDTHS = (16, 32, 64)
TORCHVISION_MODEL = "torchvision-resnet18"


def norm_layer(planes: int, bn: bool) -> nn.Module:
    return nn.BatchNorm2d(planes) if bn else nn.Identity()


class PadShortcut(nn.Module):
    """Option A at a change of shape: subsample by ``stride`` and zero-pad the extra channels."""

    def __init__(self, stride: int, extra_channels: int):
        super().__init__()
        self.stride, self.extra_channels = stride, extra_channels

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str, bn: bool):
        super().__init__()
        self.kind = shortcut
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=not bn)
        self.bn1 = norm_layer(planes, bn)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=not bn)
        self.bn2 = norm_layer(planes, bn)
        self.relu2 = nn.ReLU()
        reshapes = stride != 1 or in_planes != planes
        if shortcut == "B" and reshapes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=not bn), norm_layer(planes, bn))
        elif shortcut == "A" and reshapes:
            self.shortcut = PadShortcut(stride, planes - in_planes)
        elif shortcut == "concat":
            self.shortcut = PadShortcut(stride, 0)  # subsample only: concatenation takes any width
            self.merge = nn.Conv2d(planes + in_planes, planes, 1, bias=not bn)
            self.merge_bn = norm_layer(planes, bn)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.kind == "concat":
            out = self.merge_bn(self.merge(torch.cat([out, self.shortcut(x)], dim=1)))
        elif self.kind != "none":
            out = out + self.shortcut(x)
        return self.relu2(out)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs; ``shortcut='none'`` gives the plain net of equal depth."""

    def __init__(self, n: int, shortcut: str = "A", bn: bool = True, init: str = "kaiming", num_classes: int = 10):
        super().__init__()
        if n < 1:
            raise ValueError(f"n must be >= 1 (depth = 6n+2 >= 8), got {n}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.depth, self.shortcut_kind, self.bn = 6 * n + 2, shortcut, bn
        self.conv1 = nn.Conv2d(3, STAGE_WIDTHS[0], 3, 1, 1, bias=not bn)
        self.bn1 = norm_layer(STAGE_WIDTHS[0], bn)
        self.relu = nn.ReLU()
        in_planes, stages = STAGE_WIDTHS[0], []
        for i, planes in enumerate(STAGE_WIDTHS):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append((f"block{j}", BasicBlock(in_planes, planes, stride, shortcut, bn)))
                in_planes = planes
            stages.append(nn.Sequential(OrderedDict(blocks)))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(STAGE_WIDTHS[-1], num_classes)
        if init == "kaiming":
            kaiming_init(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def kaiming_init(model: nn.Module) -> None:
    """He et al.'s init: N(0, 2/fan_in) weights, zero biases, BN scale 1 and shift 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def depth_to_n(depth: int) -> int:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, ...), got {depth}")
    return (depth - 2) // 6


def build_model(
    arch: str = "cifar",
    depth: int = 20,
    shortcut: str = "A",
    bn: bool = True,
    init: str = "kaiming",
    num_classes: int = 10,
) -> nn.Module:
    if arch == TORCHVISION_MODEL:
        from .torchvision_models import torchvision_resnet18  # torchvision is slow to import; only when asked

        model = torchvision_resnet18(num_classes)
        if init == "kaiming":
            kaiming_init(model)
        return model
    if arch != "cifar":
        raise ValueError(f"arch must be 'cifar' or {TORCHVISION_MODEL!r}, got {arch!r}")
    return CifarResNet(depth_to_n(depth), shortcut, bn, init, num_classes)


def resnet20(**kw):
    return CifarResNet(3, **kw)


def resnet56(**kw):
    return CifarResNet(9, **kw)


def model_name(arch: str, depth: int, shortcut: str, bn: bool = True) -> str:
    """Short human name: 'ResNet-56 (A)', 'plain-20', 'concat-merge-20', 'plain-56 (no BN)'."""
    if arch == TORCHVISION_MODEL:
        return "torchvision ResNet-18"
    base = {"none": f"plain-{depth}", "concat": f"concat-merge-{depth}"}.get(shortcut, f"ResNet-{depth} ({shortcut})")
    return base if bn else f"{base} (no BN)"


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The conv and linear layers in forward order, with their stable names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
