"""The three extractor networks, defined here with torchvision's / torchvggish's state-dict layout.

torchvision is not a dependency of AVVP Lab (its PyPI build for torch 2.13.0 does not import beside the CPU wheel
of torch we pin: `operator torchvision::nms does not exist`), so ResNet-152 and R(2+1)D-18 are written out here,
module for module, with the same parameter names and shapes as `torchvision.models.resnet152` and
`torchvision.models.video.r2plus1d_18`: their published weight files load into these modules unchanged
(`tests/test_extract.py` checks the names, the shapes and the parameter counts torchvision documents:
60,192,808 and 31,505,325). VGGish follows the PyTorch port of the AudioSet release (harritaylor/torchvggish,
`vggish-10086976.pth`): `features.*` (the VGG trunk) and `embeddings.*` (three fully connected layers).

Each network keeps its classification layer (`fc`) so that the weight files load as published; `features()`
returns what the LLP features are: the pooled activations before that layer.

`blocks` and `widths` let the tests build smaller networks of the same kind (fewer blocks, narrower inner stages,
the same output sizes: 2048 and 512) to run the whole pipeline in seconds on random weights (`TINY`); extraction
always builds the published architectures.
"""

from __future__ import annotations

import torch
from torch import nn

RESNET152_BLOCKS = (3, 8, 36, 3)
R2PLUS1D_18_BLOCKS = (2, 2, 2, 2)
WIDTHS = (64, 128, 256, 512)  # planes per stage; the last fixes the output size (ResNet: x4 = 2048, R(2+1)D: 512)
# Test-only sizes: same outputs, a few percent of the compute (see module docstring).
TINY = {"res152": {"blocks": (1, 1, 1, 1), "widths": (8, 16, 32, 512), "stem": 8},
        "r2plus1d_18": {"blocks": (1, 1, 1, 1), "widths": (8, 16, 32, 512), "stem": (8, 8)},
        "vggish": {"trunk": (8, "M", 16, "M", 32, 32, "M", 64, 512, "M")}}


# ------------------------------------------------------------------------------------------- ResNet-152
class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as torchvision's "ResNet v1.5"), 1x1 expand x4, plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet(nn.Module):
    """torchvision's ImageNet ResNet with bottleneck blocks; (N, 3, 224, 224) -> features (N, 2048)."""

    def __init__(self, blocks: tuple[int, ...] = RESNET152_BLOCKS, widths: tuple[int, ...] = WIDTHS, stem: int = 64,
                 num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = stem
        for i, (planes, n) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = []
            for b in range(n):
                layer.append(Bottleneck(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1] * Bottleneck.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation (only matters for random-weight runs)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, 56, 56)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 2048, 7, 7)
        return torch.flatten(self.avgpool(x), 1)  # (N, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet152(**sizes) -> ResNet:
    """torchvision's `resnet152` (IMAGENET1K_V1 weights fit it); `sizes` only for the tests' TINY variant."""
    return ResNet(**{"blocks": RESNET152_BLOCKS, **sizes})


# ------------------------------------------------------------------------------------------ R(2+1)D-18
class Conv2Plus1D(nn.Sequential):
    """A 3x3x3 convolution factorised as spatial 1x3x3 -> BN -> ReLU -> temporal 3x1x1 (keys .0, .1, .3)."""

    def __init__(self, inplanes: int, planes: int, midplanes: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(inplanes, midplanes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


class BasicBlock3d(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        # The mid width that gives the factorised conv the parameters of a full 3x3x3 one (paper sec. 3.5);
        # torchvision computes it once per block from the block's input and output widths.
        mid = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(Conv2Plus1D(inplanes, planes, mid, stride), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(Conv2Plus1D(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm3d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class R2Plus1D(nn.Module):
    """torchvision's VideoResNet with the R(2+1)D stem and blocks; (N, 3, T, 112, 112) -> features (N, 512)."""

    def __init__(self, blocks: tuple[int, ...] = R2PLUS1D_18_BLOCKS, widths: tuple[int, ...] = WIDTHS,
                 stem: tuple[int, int] = (45, 64), num_classes: int = 400):
        super().__init__()
        mid, out = stem
        self.stem = nn.Sequential(  # keys stem.0 (conv), stem.1 (bn), stem.3 (conv), stem.4 (bn)
            nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False), nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False), nn.BatchNorm3d(out),
            nn.ReLU(inplace=True),
        )
        inplanes = out
        for i, (planes, n) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = []
            for b in range(n):
                layer.append(BasicBlock3d(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, 64, T, 56, 56)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512, T/8, 7, 7)
        return torch.flatten(self.avgpool(x), 1)  # (N, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def r2plus1d_18(**sizes) -> R2Plus1D:
    """torchvision's `r2plus1d_18` (KINETICS400_V1 weights fit it); `sizes` only for the tests' TINY variant."""
    return R2Plus1D(**{"blocks": R2PLUS1D_18_BLOCKS, **sizes})


# ---------------------------------------------------------------------------------------------- VGGish
VGGISH_TRUNK = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


class VGGish(nn.Module):
    """AudioSet VGGish: (N, 1, 96, 64) log-mel examples -> (N, 128) embeddings (the layer before PCA).

    Keys: features.{0,3,6,8,11,13} (3x3 convs; ReLU and max-pool layers hold no parameters) and
    embeddings.{0,2,4} (4096, 4096 units with ReLU, then the 128-unit embedding layer). The embedding layer is
    linear, as in the reference TF-slim definition (`vggish_slim.py`, `fc2` with `activation_fn=None` since 2020),
    whose port JoMoLD's extractor is; torchvggish's port (2019) ends in a ReLU: `final_relu=True` gives its output."""

    def __init__(self, trunk: tuple = VGGISH_TRUNK, final_relu: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for v in trunk:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(channels * 6 * 4, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, 128))
        self.final_relu = final_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 512, 6, 4): time x frequency after four 2x2 pools
        # TF's trunk is channels-last: flatten in (time, frequency, channel) order so the ported fc weights apply.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (N, 6*4*512), (t, f, c) order
        x = self.embeddings(x)  # (N, 128)
        return torch.relu(x) if self.final_relu else x


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
