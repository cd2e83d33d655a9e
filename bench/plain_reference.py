"""The plain PyTorch reference that bench/train_throughput.py measures snowgan against.

Written the way the common public scripts write a GAN training step, with nothing
snowgan does for speed: float32, default (contiguous) memory format, torch.optim.Adam
with its default kernel choice (per-tensor loops on CPU), the real images already in
memory as a float tensor in [-1, 1], and

- nonsat (DCGAN): the pytorch/examples ``dcgan/main.py`` step line for line: D with a
  sigmoid and BCELoss on a real batch, then on ``G(z).detach()``, one D update; then the
  same fake through the updated D for the G update (D weight gradients computed and
  discarded, as there).
- wgan-gp (+drift): the usual WGAN-GP critic loop (Gulrajani et al.'s reference code):
  n_critic critic updates, each on a fresh real batch and a fake made without a graph,
  the penalty on random interpolates by ``autograd.grad(create_graph=True)``; then one
  generator update with the critic frozen.

The networks are the same modules snowgan trains (``snowgan.models``; DCGAN at 64x64
with widths 64 is exactly pytorch/examples' netG/netD), copied, so both sides do the
same arithmetic on the same architecture.
"""

from __future__ import annotations

import copy
import types

import torch
import torch.nn.functional as F
from torch import nn

from snowgan.models import layers
from snowgan.models.r3gan import networks as r3gan


def plain_activations(net: nn.Module) -> nn.Module:
    """net with snowgan's leaky ReLUs (models/layers.leaky_relu, a custom autograd Function
    with a cheaper double backward) swapped back to PyTorch's own, in place, as a plain script
    writes them: layers.LeakyReLU -> nn.LeakyReLU, r3gan.BiasedLeakyReLU -> F.leaky_relu."""
    for name, m in list(net.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, layers.LeakyReLU):
                setattr(m, child_name, nn.LeakyReLU(child.slope, child.inplace))
        if isinstance(m, r3gan.BiasedLeakyReLU):
            m.forward = types.MethodType(  # type: ignore[method-assign]
                lambda self, x: F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), r3gan.SLOPE), m)
    return net


class PlainReference:
    """One training iteration of a textbook fp32 GAN on (G, D) copies.

    images: float (N, C, H, W) in [-1, 1], held in memory. Call ``iteration()`` to run
    disc_steps D updates and one G update on batches of batch_size.
    """

    def __init__(self, G: nn.Module, D: nn.Module, images: torch.Tensor, *, loss: str, batch_size: int,
                 disc_steps: int, lr_g: float, lr_d: float, betas: tuple[float, float],
                 gp_weight: float = 10.0, drift_weight: float = 0.0) -> None:
        self.netG = plain_activations(copy.deepcopy(G).float().to(memory_format=torch.contiguous_format))
        self.netD = plain_activations(copy.deepcopy(D).float().to(memory_format=torch.contiguous_format))
        self.images = images.float().contiguous()
        self.loss, self.batch_size, self.disc_steps = loss, batch_size, disc_steps
        self.gp_weight, self.drift_weight = gp_weight, drift_weight
        self.nz = G.latent_dim
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=lr_d, betas=betas)
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=lr_g, betas=betas)
        self.criterion = nn.BCELoss()

    def _real_batch(self) -> torch.Tensor:
        idx = torch.randint(0, len(self.images), (self.batch_size,))
        return self.images[idx]

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.batch_size, self.nz, 1, 1)

    def iteration(self) -> None:
        if self.loss == "nonsat":
            self._dcgan_iteration()
        else:
            self._wgan_gp_iteration()

    def _dcgan_iteration(self) -> None:
        """pytorch/examples dcgan/main.py, one pass of the inner loop body."""
        netD, netG, criterion = self.netD, self.netG, self.criterion
        real_label, fake_label = 1.0, 0.0
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = self._real_batch()
        label = torch.full((self.batch_size,), real_label, dtype=real_cpu.dtype)
        output = torch.sigmoid(netD(real_cpu)).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = self._noise()
        fake = netG(noise)
        label.fill_(fake_label)
        output = torch.sigmoid(netD(fake.detach())).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        self.optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = torch.sigmoid(netD(fake)).view(-1)
        errG = criterion(output, label)
        errG.backward()
        self.optimizerG.step()

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.size(0), 1, 1, 1)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        disc_interpolates = self.netD(interpolates)
        gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                        grad_outputs=torch.ones_like(disc_interpolates),
                                        create_graph=True, retain_graph=True, only_inputs=True)[0]
        gradients = gradients.view(gradients.size(0), -1)
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean()

    def _wgan_gp_iteration(self) -> None:
        netD, netG = self.netD, self.netG
        for p in netD.parameters():
            p.requires_grad = True
        for _ in range(self.disc_steps):
            netD.zero_grad()
            real = self._real_batch()
            d_real = netD(real)
            with torch.no_grad():
                fake = netG(self._noise())
            d_fake = netD(fake)
            gp = self._gradient_penalty(real, fake)
            d_cost = d_fake.mean() - d_real.mean() + self.gp_weight * gp
            if self.drift_weight:
                d_cost = d_cost + self.drift_weight * (d_real ** 2).mean()
            d_cost.backward()
            self.optimizerD.step()
        for p in netD.parameters():
            p.requires_grad = False  # the critic is fixed during the generator update
        netG.zero_grad()
        g_cost = -netD(netG(self._noise())).mean()
        g_cost.backward()
        self.optimizerG.step()
