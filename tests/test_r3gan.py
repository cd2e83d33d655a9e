"""R3GAN networks (models/r3gan/networks.py, models/r3gan/grouped_conv.py): sizes, init, derivatives, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here

from snowgan.config import Config, ConfigError
from snowgan.flags import parse_args
from snowgan.models.r3gan import networks as r3gan
from snowgan.models.r3gan.grouped_conv import grouped_conv2d
from snowgan.models.registry import build_networks
from snowgan.train.device import pick_precision


def _cfg(size: str = "16", channels: int = 3, width: int = 8, max_width: int = 64, blocks: int = 1) -> Config:
    cfg = Config()
    cfg.model.arch, cfg.data.image_size, cfg.data.channels = "r3gan", size, channels
    cfg.model.g_width = cfg.model.d_width = width
    cfg.model.max_width, cfg.model.blocks_per_stage, cfg.model.latent_dim = max_width, blocks, 16
    return cfg


def _build(cfg: Config, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    return build_networks(cfg)


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _residual_blocks(m: torch.nn.Module) -> list[r3gan.ResidualBlock]:
    return [b for b in m.modules() if isinstance(b, r3gan.ResidualBlock)]


@pytest.mark.parametrize("size, hw, channels", [("16", (16, 16), 3), ("32", (32, 32), 3),
                                                ("24x40", (24, 40), 3), ("16", (16, 16), 1)])
def test_shapes_range_and_features(size: str, hw: tuple[int, int], channels: int) -> None:
    G, D = _build(_cfg(size, channels))
    z = torch.randn(3, 16)
    x = G.eval()(z)
    assert x.shape == (3, channels, *hw) and x.abs().max() <= 1  # sampling range
    assert D(x).shape == (3,) and torch.isfinite(D(x)).all()
    feats = D.forward_features(x)
    h0, w0, k = r3gan.split_size(*hw)
    assert len(feats) == len(D.blocks) == k + 1  # one block per resolution, the base grid last
    assert [f.shape[-2:] for f in feats] == [(hw[0] >> min(i + 1, k), hw[1] >> min(i + 1, k)) for i in range(k + 1)]
    assert feats[-1].shape[-2:] == (h0, w0)


def test_training_output_is_linear_and_eval_clamps() -> None:
    G, _ = _build(_cfg())
    with torch.no_grad():
        G.to_image.weight.mul_(50.0)  # push the linear output far outside [-1, 1]
    z = torch.randn(4, 16)
    raw = G.train()(z)
    assert raw.abs().max() > 1
    assert torch.equal(G.eval()(z), raw.clamp(-1, 1))


def test_labels_are_accepted_and_ignored() -> None:
    G, D = _build(_cfg())
    z, labels = torch.randn(2, 16), torch.tensor([0, 1])
    x = G(z)
    assert torch.equal(G(z, labels), x) and torch.equal(D(x, labels), D(x))


def test_same_seed_same_networks() -> None:
    (G1, D1), (G2, D2) = _build(_cfg(), 3), _build(_cfg(), 3)
    for a, b in zip(list(G1.parameters()) + list(D1.parameters()), list(G2.parameters()) + list(D2.parameters())):
        assert torch.equal(a, b)


def test_residual_blocks_are_identity_at_init_and_learn_through_the_last_layer() -> None:
    G, D = _build(_cfg())
    for net, shape in ((G, None), (D, None)):
        blocks = _residual_blocks(net)
        assert len(blocks) == 3  # 16 px = 4 * 2^2: three stages, one block each
        for b in blocks:
            x = torch.randn(2, b.conv1.in_channels, 4, 4)
            assert torch.equal(b(x), x)  # zero-initialised last layer: the branch adds exactly 0
    # The whole generator is then its shortcut path: basis, widening 1x1s, upsampling, to_image.
    z = torch.randn(2, 16)
    out = G(z)
    for b in _residual_blocks(G):
        b.forward = lambda x: x  # type: ignore[method-assign]
    assert torch.equal(G(z), out)
    # Only the zero-initialised layer gets a gradient at first (the others see a zero upstream weight).
    G2, D2 = _build(_cfg())
    D2(G2(z)).sum().backward()
    b = _residual_blocks(G2)[1]
    assert b.conv3.weight.grad.abs().sum() > 0
    assert b.conv1.weight.grad.abs().sum() == 0 and b.conv2.weight.grad.abs().sum() == 0


@pytest.mark.parametrize("blocks", [1, 3])
def test_fixup_init_scales_inner_layers_with_the_number_of_blocks(blocks: int) -> None:
    G, _ = _build(_cfg("32", width=32, max_width=256, blocks=blocks))
    n = blocks * 4  # 32 px = 4 * 2^3: four stages
    widest = max(_residual_blocks(G), key=lambda b: b.conv1.weight.numel())
    for layer in (widest.conv1, widest.conv2):
        w = layer.weight
        expected = r3gan.LRELU_GAIN * n ** -0.25 / math.sqrt(w[0].numel())
        assert float(w.detach().std()) == pytest.approx(expected, rel=0.05)
    assert widest.conv2.groups == widest.conv2.in_channels // r3gan.GROUP_CHANNELS


def test_group_count_keeps_sixteen_channels_per_group_where_it_can() -> None:
    assert [r3gan.group_count(c) for c in (8, 16, 24, 40, 128, 1536)] == [1, 1, 2, 4, 8, 96]


def test_parameter_counts_scale_with_width_and_depth() -> None:
    G1, D1 = _build(_cfg("32", width=16, max_width=1024))
    G2, D2 = _build(_cfg("32", width=32, max_width=1024))
    G3, _ = _build(_cfg("32", width=16, max_width=1024, blocks=2))
    for small, big in ((G1, G2), (D1, D2)):
        # Twice the width: the 1x1 layers grow 4x, the grouped 3x3s (16 channels per group) 2x.
        assert 3.0 < _n_params(big) / _n_params(small) < 4.0
    assert _n_params(G3) > 1.5 * _n_params(G1)


def test_resampling_is_the_binomial_filter_and_its_adjoint() -> None:
    x, y = torch.randn(2, 3, 8, 12, dtype=torch.float64), torch.randn(2, 3, 16, 24, dtype=torch.float64)
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    kernel = (torch.outer(k, k) / 64).expand(3, 1, 4, 4)
    ref = F.conv2d(y, kernel, stride=2, padding=1, groups=3)
    assert torch.allclose(r3gan.downsample2x(y)[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])  # interior: exact
    assert torch.allclose((r3gan.upsample2x(x) * y).sum(), 4 * (x * r3gan.downsample2x(y)).sum())
    for fn, shape in ((r3gan.upsample2x, (1, 1, 4, 6)), (r3gan.downsample2x, (1, 1, 8, 12))):
        assert torch.allclose(fn(torch.full(shape, 0.7)), torch.tensor(0.7))  # unit gain, borders too


def test_grouped_conv_matches_conv2d_to_second_order() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    w = torch.randn(8, 2, 3, 3, dtype=torch.float64)
    up = torch.randn(2, 8, 5, 6, dtype=torch.float64)  # an upstream gradient

    def grads(conv) -> tuple[torch.Tensor, ...]:
        """The output, its first derivatives and the second derivatives R1 takes: ||dL/dx||^2
        differentiated with respect to the weights and the upstream gradient (dL/dx does not
        depend on x: the convolution is linear)."""
        xi, wi, ui = x.clone().requires_grad_(True), w.clone().requires_grad_(True), up.clone().requires_grad_(True)
        y = conv(xi, wi)
        first = torch.autograd.grad((y * ui).sum(), (xi, wi), create_graph=True)
        second = torch.autograd.grad(first[0].square().sum() + first[1].square().sum(), (wi, ui, xi))
        return (y.detach(), *(g.detach() for g in first), *second)

    ours = grads(lambda a, b: grouped_conv2d(a, b, 4))
    native = grads(lambda a, b: F.conv2d(a, b, padding=1, groups=4))
    assert all(torch.allclose(a, b) for a, b in zip(ours, native))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_discriminator_input_gradient_and_r1_double_backward(precision: str) -> None:
    G, D = _build(_cfg("16", width=16, max_width=64))
    for b in _residual_blocks(D):  # leave the init so every layer of a branch is on the gradient path
        torch.nn.init.normal_(b.conv3.weight, 0.0, 0.05)
    D = D.to(memory_format=torch.channels_last)
    dev = torch.device("cpu")
    prec = pick_precision(precision, dev)
    x = G(torch.randn(4, 16)).detach().to(memory_format=torch.channels_last).requires_grad_(True)
    with prec.autocast(dev):
        scores = D(x).float()
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    assert grad.shape == x.shape and grad.abs().sum() > 0
    grad.float().square().sum().backward()  # R1/R2: the penalty's gradient reaches every D weight
    grads = {name: p.grad for name, p in D.named_parameters()}
    # An activation bias enters the input gradient only through lrelu'(x + b), which is piecewise
    # constant: its penalty derivative is exactly zero, and models/layers.leaky_relu leaves it unset.
    kinked = {n for n in grads if n.endswith(("act1.bias", "act2.bias"))}
    assert all(g is not None and torch.isfinite(g).all() for n, g in grads.items() if n not in kinked)
    assert all(grads[n] is None or not grads[n].any() for n in kinked)
    b = _residual_blocks(D)[0]
    assert all(layer.weight.grad.abs().sum() > 0 for layer in (b.conv1, b.conv2, b.conv3))


def test_bf16_step_tracks_fp32() -> None:
    G, D = _build(_cfg("16", width=16, max_width=64))
    for b in _residual_blocks(D) + _residual_blocks(G):
        torch.nn.init.normal_(b.conv3.weight, 0.0, 0.05)
    z = torch.randn(8, 16)
    dev = torch.device("cpu")
    out = {}
    for precision in ("fp32", "bf16"):
        D.zero_grad()
        with pick_precision(precision, dev).autocast(dev):
            loss = D(G(z)).float().mean()
        loss.backward()
        out[precision] = torch.cat([p.grad.flatten() for p in D.parameters()])
    cos = F.cosine_similarity(out["fp32"], out["bf16"], dim=0)
    assert cos > 0.99


def test_recipe_holds_the_papers_settings_at_cpu_sizes() -> None:
    cfg, _ = parse_args(["--recipe", "r3gan", "--image_size", "16", "--g_width", "4", "--d_width", "4"])
    m, t = cfg.model, cfg.train
    assert (m.arch, m.loss, m.latent_dim, m.blocks_per_stage, m.r1_gamma, m.r2_gamma) == \
        ("r3gan", "rpgan", 64, 1, 2.0, 2.0)
    assert (t.gen_lr, t.disc_lr, t.beta1, t.beta2, t.disc_steps) == (2e-4, 2e-4, 0.0, 0.9, 1)
    assert cfg.aug.aug_p == 0.3 and cfg.data.mirror
    G, D = _build(cfg)
    assert D(G(torch.randn(2, 64))).shape == (2,)


def test_blocks_per_stage_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="blocks_per_stage"):
        build_networks(_cfg(blocks=0))


def test_cli_trains_r3gan_writes_a_checkpoint_and_generates(workdir: Path) -> None:
    run_cli("--mode", "train", "--arch", "r3gan", "--loss", "hinge", "--r1_gamma", "1", "--image_size", "16",
            "--builtin_count", "32", "--batch_size", "4", "--g_width", "8", "--d_width", "8", "--latent_dim", "16",
            "--beta1", "0", "--beta2", "0.9", "--steps", "3", "--log_every", "1", "--sample_every", "3",
            "--progress", "lines", "--name", "r3", cwd=workdir)
    (run,) = (workdir / "runs").iterdir()
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    assert ckpts and ckpts[-1].name.endswith("3") and (ckpts[-1] / "model.safetensors").is_file()
    run_cli_here("--mode", "generate", "--run", "r3", "--n_samples", "3", "--out", workdir / "gen", cwd=workdir)
    images = sorted((workdir / "gen").glob("*.png"))
    assert len(images) == 3 and Image.open(images[0]).size == (16, 16)
    # Exported, the folder rebuilds the networks on its own (eval mode: samples in [-1, 1]).
    run_cli_here("--mode", "export", "--run", "r3", "--out", workdir / "model", cwd=workdir)
    card = (workdir / "model" / "README.md").read_text(encoding="utf-8")
    assert "- Architecture: R3GAN (no normalisation layers; generator width 8; discriminator width 8; at most 512 channels; --blocks_per_stage 1)" in card
    import snowgan

    G, D = snowgan.load_generator(workdir / "model", device="cpu"), snowgan.load_discriminator(workdir / "model")
    with torch.no_grad():
        x = G(torch.randn(2, 16))
        assert x.shape == (2, 3, 16, 16) and x.abs().max() <= 1 and D(x).shape == (2,)


@pytest.mark.slow
def test_resume_is_bit_identical(workdir: Path) -> None:
    """4 steps straight == 2 steps, then a resumed run to 4: R3GAN's loss (RpGAN + R1 + R2, double
    backward through the grouped convolutions), bf16 autocast where the CPU has it."""
    args = ["--arch", "r3gan", "--loss", "rpgan", "--image_size", "16", "--builtin_count", "32",
            "--batch_size", "4", "--g_width", "8", "--d_width", "8", "--latent_dim", "16", "--deterministic",
            "--checkpoint_every", "2", "--keep_checkpoints", "10", "--sample_every", "100", "--progress", "none"]
    run_cli("--mode", "train", *args, "--steps", "4", "--name", "straight", cwd=workdir)
    run_cli_here("--mode", "train", *args, "--steps", "2", "--name", "resumed", cwd=workdir)
    p = run_cli_here("--mode", "train", "--name", "resumed", "--steps", "4", "--progress", "lines", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout
    runs = {p.name.split("-", 1)[1]: p for p in (workdir / "runs").iterdir()}
    a, b = (load_file(str(runs[n] / "checkpoints" / "step-00000004" / "model.safetensors"))
            for n in ("straight", "resumed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
