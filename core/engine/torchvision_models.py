"""torchvision's ResNet-18 for 32x32 inputs, the seed study's "torchvision ResNet" comparison.

Kept apart from models.py because importing torchvision costs seconds that most commands don't need;
``models.build_model`` imports it when asked for this network, and gives it the init asked for.
"""

import torch.nn as nn
import torchvision


class TorchvisionBlock(torchvision.models.resnet.BasicBlock):
    """torchvision's BasicBlock with a second ReLU module, so each ReLU call site is its own module."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + identity)


def torchvision_resnet18(num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18 adapted to 32x32: a 3x3 stride-1 stem and no max-pool (torchvision's own init)."""
    model = torchvision.models.resnet.ResNet(TorchvisionBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model
