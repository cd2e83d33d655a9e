"""Progressive GAN networks and schedule: stages, fades, resume mid-fade, non-square sizes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from snowgan.config import Config, ConfigError
from snowgan.models.progan.networks import Discriminator, Generator, build, stage_resolutions
from snowgan.models.registry import build_networks
from snowgan.models.growing import Schedule, Stage, apply_stage, parse_pg_batch, real_for_stage


def _cfg(size: str = "32", **model) -> Config:
    cfg = Config()
    cfg.data.image_size = size
    m = cfg.model
    m.arch, m.loss, m.latent_dim, m.g_width, m.d_width, m.max_width = "progan", "wgan-gp", 16, 8, 8, 32
    m.pg_start, m.pg_fade_kimg, m.pg_stable_kimg = 4, 0.016, 0.008  # 16-image fades, 8-image stable phases
    cfg.train.batch_size = 4
    for k, v in model.items():
        setattr(m, k, v)
    return cfg


def test_stage_resolutions() -> None:
    assert stage_resolutions((256, 256), 4) == [(4 * 2 ** j,) * 2 for j in range(7)]
    assert stage_resolutions((160, 160), 4)[0] == (5, 5)  # 160 = 5 * 2^5: starts at its base
    assert stage_resolutions((160, 160), 20) == [(20, 20), (40, 40), (80, 80), (160, 160)]
    assert stage_resolutions((96, 160), 4) == [(3 * 2 ** j, 5 * 2 ** j) for j in range(6)]
    with pytest.raises(ConfigError, match="--pg_start"):
        stage_resolutions((64, 64), 128)


def test_registry_builds_progan_with_the_contract() -> None:
    cfg = _cfg()
    G, D = build_networks(cfg)
    assert isinstance(G, Generator) and isinstance(D, Discriminator) and G.latent_dim == 16
    assert G.stage == D.stage == (3, 1.0)  # built at the final stage: 4, 8, 16, 32
    torch.manual_seed(0)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    feats = D.forward_features(x)
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 4]  # highest resolution first
    assert len(D.blocks) == 4
    cfg.model.spectral_norm = True
    with pytest.raises(ConfigError, match="--spectral_norm"):
        build(cfg)


def test_output_resolution_and_alpha_follow_the_schedule() -> None:
    cfg = _cfg(pg_batch="4:8,16:2")
    sched = Schedule(cfg, cfg.image_hw)
    G, D = build(cfg)
    seen, trace = 0, []
    torch.manual_seed(0)
    while seen < 120:
        st = sched.stage(seen)
        apply_stage(st, G, D)
        out = G(torch.randn(st.batch_size, 16))
        assert out.shape == (st.batch_size, 3, *st.res) and D(out).shape == (st.batch_size,)
        trace.append((seen, st.level, st.phase, round(st.alpha, 4), st.batch_size))
        seen += st.batch_size
    # stable 4x4 (8 imgs, batch 8), fade+stable 8x8 (16 + 8, batch 4 = --batch_size),
    # fade+stable 16x16 (batch 2), then fade to 32x32 and stable for ever.
    assert trace[:2] == [(0, 0, "stable", 1.0, 8), (8, 1, "fade", 0.0, 4)]
    assert trace[2:6] == [(12, 1, "fade", 0.25, 4), (16, 1, "fade", 0.5, 4), (20, 1, "fade", 0.75, 4),
                          (24, 1, "stable", 1.0, 4)]
    assert (32, 2, "fade", 0.0, 2) in trace and (48, 2, "stable", 1.0, 2) in trace
    assert (56, 3, "fade", 0.0, 4) in trace and (72, 3, "stable", 1.0, 4) in trace
    assert trace[-1][1:3] == (3, "stable") and sched.final_stable_at == 72
    alphas = [a for _, lv, ph, a, _ in trace if lv == 2 and ph == "fade"]
    assert alphas == sorted(alphas) and len(set(alphas)) == len(alphas)


def test_fade_blends_the_two_resolutions() -> None:
    cfg = _cfg()
    torch.manual_seed(1)
    G, D = build(cfg)
    z = torch.randn(4, 16)
    G.set_stage(1, 1.0)
    hi = G(z)
    G.set_stage(0)
    lo = F.interpolate(G(z), scale_factor=2, mode="nearest")
    G.set_stage(1, 0.3)
    assert torch.allclose(G(z), 0.7 * lo + 0.3 * hi, atol=1e-6)
    # D at alpha 0 of a fade is exactly D one level down on the pooled images.
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    D.set_stage(2, 0.0)
    at_fade_start = D(x)
    D.set_stage(1, 1.0)
    assert torch.allclose(at_fade_start, D(F.avg_pool2d(x, 2)), atol=1e-6)
    # The blended reals are what a fading G would make of them.
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    st = Stage(2, (16, 16), 0.25, 4, "fade")
    x16 = F.avg_pool2d(real, 2)
    want = 0.75 * F.interpolate(F.avg_pool2d(x16, 2), scale_factor=2, mode="nearest") + 0.25 * x16
    assert torch.allclose(real_for_stage(real, st), want, atol=1e-6)
    assert torch.equal(real_for_stage(real, Stage(3, (32, 32), 1.0, 4, "stable")), real)


def test_gradients_reach_both_rgb_layers_during_a_fade() -> None:
    G, D = build(_cfg())
    apply_stage(Stage(2, (16, 16), 0.5, 4, "fade"), G, D)
    D(G(torch.randn(4, 16))).mean().backward()
    for mods in (G.to_rgb, D.from_rgb):
        grads = [next(m.parameters()).grad for m in mods]
        assert grads[1] is not None and grads[2] is not None and grads[1].abs().sum() > 0
        assert grads[3] is None  # the 32x32 level is not in use yet


def _train(G, D, G_ema, sched: Schedule, seen: int, steps: int, opt_g, opt_d) -> tuple[int, list[tuple]]:
    """A few real WGAN steps through the schedule; returns images seen and the (level, alpha) trace."""
    trace = []
    for _ in range(steps):
        st = sched.stage(seen)
        apply_stage(st, G, D, G_ema)
        real = real_for_stage(torch.rand(st.batch_size, 3, 32, 32) * 2 - 1, st)
        loss_d = D(G(torch.randn(st.batch_size, 16)).detach()).mean() - D(real).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = -D(G(torch.randn(st.batch_size, 16))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        trace.append((st.level, st.phase, st.alpha))
        seen += st.batch_size
    return seen, trace


def test_resume_mid_fade_continues_the_same_alpha(tmp_path: Path) -> None:
    cfg = _cfg()
    torch.manual_seed(2)
    G, D = build(cfg)
    G_ema = copy.deepcopy(G)
    opt_g, opt_d = (torch.optim.Adam(n.parameters(), lr=1e-3, betas=(0.0, 0.99)) for n in (G, D))
    sched = Schedule(cfg, cfg.image_hw)
    seen, _ = _train(G, D, G_ema, sched, 0, 4, opt_g, opt_d)  # 16 images: 8x8 fade at alpha 0.5
    assert sched.stage(seen).phase == "fade" and 0 < sched.stage(seen).alpha < 1
    G_ema.load_state_dict(G.state_dict())
    # "Checkpoint": weights (with the stage buffers) to safetensors, the image count to JSON.
    save_file({f"{n}.{k}": v.contiguous() for n, net in (("G", G), ("D", D), ("G_ema", G_ema))
               for k, v in net.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "state.json").write_text(json.dumps({"images_seen": seen}))
    z = torch.randn(3, 16)
    before, saved_stage = G_ema(z), G_ema.stage  # the stage the last step trained at: alpha 0.25
    _, trace_a = _train(G, D, G_ema, sched, seen, 6, opt_g, opt_d)

    # "Resume": fresh networks and schedule built from the config, state loaded from the files.
    G2, D2 = build(cfg)
    G2_ema = copy.deepcopy(G2)
    flat = load_file(str(tmp_path / "model.safetensors"))
    for name, net in (("G", G2), ("D", D2), ("G_ema", G2_ema)):
        net.load_state_dict({k[len(name) + 1:]: v for k, v in flat.items() if k.startswith(name + ".")})
    seen2 = json.loads((tmp_path / "state.json").read_text())["images_seen"]
    assert G2_ema.stage == D2.stage == saved_stage == (1, 0.25)  # loaded networks are at the saved stage
    assert torch.equal(G2_ema(z), before)
    opt_g2, opt_d2 = (torch.optim.Adam(n.parameters(), lr=1e-3, betas=(0.0, 0.99)) for n in (G2, D2))
    _, trace_b = _train(G2, D2, G2_ema, Schedule(cfg, cfg.image_hw), seen2, 6, opt_g2, opt_d2)
    assert trace_b == trace_a
    assert trace_a[0] == (1, "fade", 0.5) and ("stable" in {p for _, p, _ in trace_a})


def test_non_square_final_size() -> None:
    cfg = _cfg("24x40", pg_start=3)
    G, D = build(cfg)
    sched = Schedule(cfg, cfg.image_hw)
    assert sched.resolutions == [(3, 5), (6, 10), (12, 20), (24, 40)]
    real = torch.rand(4, 3, 24, 40) * 2 - 1
    for seen in (0, 10, 30, 100):
        st = sched.stage(seen)
        apply_stage(st, G, D)
        fake = G(torch.randn(4, 16))
        assert fake.shape[-2:] == st.res == real_for_stage(real, st).shape[-2:]
        assert D(fake).shape == D(real_for_stage(real, st)).shape == (4,)
    with pytest.raises(ValueError, match="expects"):
        D(real[..., :20])


def test_pg_batch_parsing_and_errors() -> None:
    assert parse_pg_batch("4:64, 8:64,16:32") == {4: 64, 8: 64, 16: 32}
    assert parse_pg_batch("") == {}
    for bad in ("4-64", "4:x", "4:0"):
        with pytest.raises(ConfigError, match="--pg_batch"):
            parse_pg_batch(bad)
    cfg = _cfg(pg_batch="4:6")
    cfg.train.grad_accum = 4
    with pytest.raises(ConfigError, match="--grad_accum"):
        Schedule(cfg, cfg.image_hw)


def test_set_stage_validates() -> None:
    G = Generator((32, 32), 3, 16, 8, 32, 4)
    with pytest.raises(ValueError):
        G.set_stage(4)
    with pytest.raises(ValueError):
        G.set_stage(0, 0.5)  # nothing to fade in from at the start resolution
    G.set_stage(2, 0.25)
    wrapper = torch.nn.ModuleDict({"g": Generator((32, 32), 3, 16, 8, 32, 4)})
    wrapper.load_state_dict({f"g.{k}": v for k, v in G.state_dict().items()})  # nested load syncs too
    assert wrapper["g"].stage == (2, 0.25) and wrapper["g"].current_size == (16, 16)
