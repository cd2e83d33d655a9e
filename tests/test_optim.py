"""AdaBelief against a NumPy transcription of the paper's Algorithm 2, and the optimizer factory."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from snowgan.config import ConfigError
from snowgan.optim import AdaBelief, build_optimizer


def _reference(theta0: np.ndarray, grads: list[np.ndarray], lr: float, b1: float, b2: float, eps: float,
               wd: float = 0.0, decoupled: bool = False, rectify: bool = False) -> list[np.ndarray]:
    """Zhuang et al. 2020, Algorithm 2 (plus the reference code's weight decay and rectification)."""
    theta, m, s = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    out = []
    for t, g in enumerate(grads, start=1):
        if wd:
            if decoupled:
                theta = theta * (1 - lr * wd)
            else:
                g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        m_hat = m / (1 - b1 ** t)
        s_hat = s / (1 - b2 ** t)
        if not rectify:
            theta = theta - lr * m_hat / (np.sqrt(s_hat) + eps)
        else:
            rho_inf = 2 / (1 - b2) - 1
            rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
            if rho >= 5:
                r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
                # sqrt(s_hat) = sqrt(s) / sqrt(1 - b2^t); the reference folds that factor into r
                theta = theta - lr * r * m_hat * math.sqrt(1 - b2 ** t) / (np.sqrt(s) + eps)
            else:
                theta = theta - lr * m_hat  # SGD with momentum while the variance is unreliable
        out.append(theta.copy())
    return out


@pytest.mark.parametrize("kw", [
    dict(),
    dict(eps=1e-8),
    dict(wd=0.1),
    dict(wd=0.1, decoupled=True),
    dict(rectify=True, b2=0.9),  # b2 = 0.9 so both rectification branches occur in 8 steps
])
def test_adabelief_matches_algorithm_2(kw: dict) -> None:
    rng = np.random.default_rng(0)
    lr, b1, b2, eps = 1e-2, 0.5, kw.pop("b2", 0.999), kw.pop("eps", 1e-16)
    theta0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) + 0.3 for _ in range(8)]
    expected = _reference(theta0, grads, lr, b1, b2, eps, **kw)
    p = torch.nn.Parameter(torch.tensor(theta0))  # float64 so the comparison is tight
    opt = AdaBelief([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=kw.get("wd", 0.0),
                    decoupled_weight_decay=kw.get("decoupled", False), rectify=kw.get("rectify", False))
    for g, want in zip(grads, expected):
        p.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_first_step_by_hand() -> None:
    """t = 1: m = (1-b1) g, s = (1-b2)(b1 g)^2 + eps; the step is lr * g / (|g| b1 + ...) ~ lr / b1 * sign(g)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = AdaBelief([p], lr=0.1, betas=(0.9, 0.999), eps=0.0)
    p.grad = torch.tensor([0.5, -4.0], dtype=torch.float64)
    opt.step()
    # m_hat = g; s_hat = (b1 g)^2 -> update = lr * g / (0.9 |g|) = lr / 0.9 * sign(g)
    np.testing.assert_allclose(p.detach().numpy(), [1.0 - 0.1 / 0.9, -2.0 + 0.1 / 0.9], rtol=1e-12)


def test_state_dict_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    twin = copy.deepcopy(net)
    x, y = torch.randn(16, 4), torch.randn(16, 3)

    def step(model, opt):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    opt = AdaBelief(net.parameters(), lr=1e-2, betas=(0.5, 0.99))
    for _ in range(3):
        step(net, opt)
    saved = opt.state_dict()
    assert all(isinstance(v, torch.Tensor) for st in saved["state"].values() for v in st.values())
    twin.load_state_dict(net.state_dict())
    opt2 = AdaBelief(twin.parameters(), lr=1e-2, betas=(0.5, 0.99))
    opt2.load_state_dict(copy.deepcopy(saved))
    for _ in range(2):
        step(net, opt)
        step(twin, opt2)
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_adabelief_minimises_and_skips_parameters_without_grad() -> None:
    torch.manual_seed(0)
    A, b = torch.randn(20, 5), torch.randn(20)
    w = torch.nn.Parameter(torch.zeros(5))
    idle = torch.nn.Parameter(torch.ones(3))  # e.g. a progressive layer not yet in use
    opt = AdaBelief([w, idle], lr=0.05, betas=(0.9, 0.999))
    for _ in range(300):
        opt.zero_grad()
        loss = (A @ w - b).square().mean()
        loss.backward()
        opt.step()
    best = torch.linalg.lstsq(A, b[:, None]).solution.flatten()
    assert torch.allclose(w, best, atol=0.02)
    assert torch.equal(idle, torch.ones(3)) and idle not in opt.state


def test_build_optimizer() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam = build_optimizer("adam", params, 1e-4, (0.5, 0.9))
    assert isinstance(adam, torch.optim.Adam)
    assert adam.defaults["lr"] == 1e-4 and adam.defaults["betas"] == (0.5, 0.9)
    assert adam.defaults.get("fused") or adam.defaults.get("foreach")
    ab = build_optimizer("adabelief", iter(params), 2e-4, (0.5, 0.999))  # generators are fine
    assert isinstance(ab, AdaBelief) and ab.param_groups[0]["params"] == params
    with pytest.raises(ConfigError, match="--optimizer"):
        build_optimizer("sgd", params, 1e-3, (0.9, 0.999))
