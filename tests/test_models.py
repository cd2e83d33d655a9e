"""DCGAN networks at the sizes users ask for."""

import pytest
import torch

from snowgan.config import Config
from snowgan.models.registry import build_networks


@pytest.mark.parametrize("size, hw", [("32", (32, 32)), ("64", (64, 64)), ("160", (160, 160)),
                                      ("96x160", (96, 160))])
@pytest.mark.parametrize("loss", ["nonsat", "wgan-gp"])
def test_shapes_and_ranges(size: str, hw: tuple, loss: str) -> None:
    cfg = Config()
    cfg.data.image_size, cfg.model.loss = size, loss
    cfg.model.g_width = cfg.model.d_width = 8
    G, D = build_networks(cfg)
    x = G(torch.randn(2, 100))
    assert x.shape == (2, 3, *hw) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert has_bn == (loss == "nonsat")  # the WGAN-GP critic has no BatchNorm


def test_1024_generator_builds_and_runs_one_image() -> None:
    cfg = Config()
    cfg.data.image_size = "1024"
    cfg.model.g_width, cfg.model.max_width = 4, 64
    G, D = build_networks(cfg)
    with torch.no_grad():
        x = G(torch.randn(1, 100))
        assert x.shape == (1, 3, 1024, 1024) and D(x).shape == (1,)


def test_dcgan64_matches_pytorch_examples_size() -> None:
    G, D = build_networks(Config())
    assert sum(p.numel() for p in G.parameters()) == 3576704  # pytorch/examples dcgan netG, nz=100
    assert len(D.blocks) == 4 and len(D.forward_features(torch.randn(1, 3, 64, 64))) == 4


def test_spectral_norm_and_instance_norm_options() -> None:
    cfg = Config()
    cfg.data.image_size = "32"
    cfg.model.spectral_norm, cfg.model.g_norm = True, "instance"
    G, D = build_networks(cfg)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in G.modules())
    assert any(hasattr(m, "parametrizations") for m in D.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())  # auto: SN -> no BN
