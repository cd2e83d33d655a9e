"""Relativistic pairing GAN loss with R1 and R2 (RpGAN; Huang et al. 2024, "The GAN is dead; long live the GAN!").

    L_D = E[ softplus(-(D(x) - D(G(z)))) ]        each real paired with one fake
    L_G = E[ softplus(-(D(G(z)) - D(x))) ]        the same pairing, roles swapped
    + gamma/2 * (R1 + R2),  R1 = E||grad_x D(x)||^2 on reals, R2 = E||grad D(G(z))||^2 on fakes

Pairing makes the loss depend on each real/fake *difference*, so D cannot score all
reals high and all fakes low at once in one region of image space: R3GAN proves
local convergence with both zero-centred penalties, and shows it covers all 1,000
modes of Stacked MNIST. The G phase needs D's scores on real images: g_uses_real.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .base import GANLoss


class RelativisticPairing(GANLoss):
    name = "rpgan"
    g_uses_real = True

    def d_main(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(real.float() - fake.float())).mean()

    def g_main(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:
        if real is None:
            raise ValueError("the relativistic pairing loss needs D's scores on real images in the G phase")
        return F.softplus(-(fake.float() - real.detach().float())).mean()
