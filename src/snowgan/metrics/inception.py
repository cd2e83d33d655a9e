"""The Inception-V3 network of the FID protocol, in plain torch (no torchvision).

This is the 2015-12-05 TensorFlow Inception graph that Heusel et al. used for FID,
as ported to PyTorch by pytorch-fid. Parameter names match the weights file
``pt_inception-2015-12-05-6726825d.pth`` (torchvision's Inception3 naming:
``Mixed_6b.branch7x7dbl_3.conv.weight``, ``...bn.running_var``, ``fc.weight``), so that
file loads with ``strict=True``. It differs from torchvision's ImageNet Inception-V3
in the ways the TF graph does:

- average pools inside the Mixed blocks ignore padded zeros (``count_include_pad=False``),
- the last block (Mixed_7c) pools its pool branch with a max instead of an average,
- the classifier has 1008 outputs (unused here; kept so the file loads strictly).

Input protocol ``tf1-299`` (what TF's FID graph does to its input): float pixels in
[0, 255], TF1 bilinear resize to 299x299 (no half-pixel offset, no antialiasing, in
float), then ``(x - 128) / 128``. Output: pool3, the 2048-d global average of Mixed_7c.
docs/metrics.md compares it with the resizes other FID tools use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .tfresize import resize_bilinear_tf1

FID_SIZE = 299
FEATURE_DIM = 2048
# The one input protocol snowgan measures with; its name and text go into every metric's protocol.
PROTOCOL_NAME = "tf1-299"
PROTOCOL_TEXT = ("TF1 bilinear resize to 299x299 (no half-pixel offset, no antialiasing, float), (x-128)/128, "
                 "pool3 2048-d")


class FrozenBatchNorm2d(nn.Module):
    """Inference-only batch norm: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.

    All four tensors are buffers (never trained here). A ``num_batches_tracked`` entry
    in a loaded state dict is accepted and ignored: it carries no information at
    inference, and weight files differ in whether they contain it.
    """

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3, as in the TF graph) -> ReLU.

    ``fold_batchnorm()`` precomputes one conv with bias equal to conv+bn (inference
    only); the folded tensors are non-persistent, so the state dict keeps the
    standard names, and loading new weights discards them.
    """

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = FrozenBatchNorm2d(cout)
        self.register_buffer("folded_weight", None, persistent=False)
        self.register_buffer("folded_bias", None, persistent=False)

    def fold_batchnorm(self, channels_last: bool = False) -> None:
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.folded_weight = (self.conv.weight * scale[:, None, None, None]).detach().contiguous(memory_format=fmt)
        self.folded_bias = (self.bn.bias - self.bn.running_mean * scale).detach()

    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[override]
        self.folded_weight = self.folded_bias = None  # stale once the weights change
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded_weight is not None:
            return F.relu(F.conv2d(x, self.folded_weight, self.folded_bias, self.conv.stride, self.conv.padding))
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TF's SAME average pool divides by the number of real (unpadded) pixels.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avgpool->1x1. Out: 224 + pool_features."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17): 3x3/2 | 1x1->3x3->3x3/2 | maxpool/2. Out: 480 + cin."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):
    """Mixed_6b..6e: factorised 7x7 convolutions. Out: 768."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8). Out: 512 + cin."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """Mixed_7b / Mixed_7c: expanded filter banks. Out: 2048.

    pool: "avg" (Mixed_7b, TF-style average) or "max" (Mixed_7c: the FID graph uses a
    max pool here, unlike the paper; we follow the graph so features match).
    """

    def __init__(self, cin: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_tf(x)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """uint8-range images (B, 3, H, W), float in [0, 255] -> pool3 features (B, 2048) float32.

    Any H, W: the input is resized to 299x299 with TF1 bilinear first. Build it, load
    the weights (``snowgan.metrics.weights.load_inception``), call ``.eval()``.

    classifier: keep the 1008-way ``fc`` layer (pytorch-fid's file has it; the TorchScript
    port converted by ``weights_convert`` has none — pool3 does not use it).
    """

    def __init__(self, classifier: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        # The 1008-way classifier of the TF graph: not used for pool3, present so the
        # standard weights file loads strictly (and for anyone wanting logits).
        self.fc = nn.Linear(FEATURE_DIM, 1008) if classifier else None
        for p in self.parameters():
            p.requires_grad_(False)

    def fold_batchnorm(self, channels_last: bool = False) -> "FIDInceptionV3":
        """Fold every batch norm into its convolution (about 1.8x faster on a CPU; same features
        to float rounding). Call after loading weights; returns self.

        channels_last: store the folded weights NHWC, the layout oneDNN runs fastest on a
        CPU (feed the network channels_last inputs then, as inception_features does).
        """
        for m in self.modules():
            if isinstance(m, BasicConv2d):
                m.fold_batchnorm(channels_last)
        return self

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """float pixels [0, 255] (B, C, H, W), C in {1, 3} -> network input (B, 3, 299, 299) in [-1, 1)."""
        if x.shape[1] == 1:  # grayscale: the network was trained on RGB
            x = x.expand(-1, 3, -1, -1)
        x = resize_bilinear_tf1(x, (FID_SIZE, FID_SIZE))
        return (x - 128.0) / 128.0

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed input (B, 3, 299, 299) -> (B, 2048)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool3(self.preprocess(x))
