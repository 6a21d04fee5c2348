r"""The two parametrizations of [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] behind one interface.

The adapter keeps its parameters (so that state-dict keys are the same for every parametrization
that has them) and runs the scan; a parametrization says how those parameters make the discrete
system: the powers \( \bar A^n \) as a diagonal and an off-diagonal (partner) part, \( \bar B \),
which parameters it owns, and how it is initialized from S4D-real draws.

* [`S4DParametrization`][hankelid_torch.parametrization.S4DParametrization] (`"s4d"`):
  `log_a`, `log_dt`; \( a = -e^{\log a} \), \( \Delta = \mathrm{clamp}(\mathrm{softplus}(\log\Delta),
  \Delta_{\min}, \Delta_{\max}) \), zero-order hold ([`s4d_zoh`][hankelid_torch.parametrization.s4d_zoh]).
* [`ModalParametrization`][hankelid_torch.parametrization.ModalParametrization] (`"modal"`):
  `nu`, `theta` and the buffer `partner`; real modes and \( 2\times 2 \) rotation-scale blocks of
  complex-conjugate pairs, \( \rho = e^{-e^{\nu}} \), \( \bar B = \sqrt{1-\rho^2}\, B \).

A new parametrization is a class with the same methods, added to `PARAMETRIZATION_CLASSES` and its
name to `hankelid_torch.options.PARAMETRIZATIONS`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import hankelid as hk
from hankelid._stability import require_stable

__all__ = [
    "PARAMETRIZATION_CLASSES",
    "ModalParametrization",
    "S4DDraw",
    "S4DParametrization",
    "s4d_to_modal",
    "s4d_zoh",
]


def s4d_zoh(
    log_a: torch.Tensor, log_dt: torch.Tensor, dt_min: float, dt_max: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The S4D-real zero-order hold: \( (\Delta a,\ (e^{\Delta a} - 1)/a) \) per state.

    \( \bar A = e^{\Delta a} \) and \( \bar B = \frac{e^{\Delta a}-1}{a} B \) with
    \( a = -e^{\log a} \) and \( \Delta = \mathrm{clamp}(\mathrm{softplus}(\log\Delta), \Delta_{\min},
    \Delta_{\max}) \); the first entry is returned as the exponent so that powers
    \( \bar A^n = e^{n \Delta a} \) need no logarithm.

    Examples
    --------
    >>> import torch
    >>> dta, scale = s4d_zoh(torch.zeros(1), torch.tensor([0.5413]), 1e-3, 1.0)  # a = -1, dt = 1
    >>> round(float(dta), 3), round(float(scale), 3)
    (-1.0, 0.632)
    """
    a = -torch.exp(log_a)
    dta = F.softplus(log_dt).clamp(dt_min, dt_max) * a
    return dta, torch.expm1(dta) / a


def s4d_to_modal(
    log_a: torch.Tensor,
    log_dt: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    *,
    dt_min: float,
    dt_max: float,
) -> hk.ModalRealization:
    """The discrete S4D-real system `(exp(dt a), zoh B, C)` as a real modal realization (float64).

    Examples
    --------
    >>> import torch
    >>> m = s4d_to_modal(torch.zeros(2), torch.zeros(2), torch.ones(2, 3), torch.ones(1, 2),
    ...                  dt_min=1e-3, dt_max=1e-1)
    >>> m.rho.round(4).tolist(), m.partner.tolist(), m.B.shape
    ([0.9048, 0.9048], [0, 1], (2, 3))
    """
    log_a, log_dt, B, C = (t.detach().double() for t in (log_a, log_dt, B, C))
    dta, scale = s4d_zoh(log_a, log_dt, dt_min, dt_max)
    d = int(dta.numel())
    return hk.ModalRealization(
        rho=torch.exp(dta).numpy(),
        theta=np.zeros(d),
        partner=np.arange(d),
        B=(scale[:, None] * B).numpy(),
        C=C.numpy(),
        condition=1.0,
    )


class S4DDraw(NamedTuple):
    """Random S4D-real draws a parametrization is initialized from (see `hankelid_torch.init`)."""

    log_a: torch.Tensor
    log_dt: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    #: Make half of the modes complex-conjugate pairs (where the parametrization holds pairs).
    pairs: bool = False
    #: Source of the pairs' angles (`None`: torch's global RNG).
    generator: torch.Generator | None = None


class S4DParametrization:
    """Real diagonal S4D parametrization: parameters `log_a`, `log_dt` (plus the adapter's `B`, `C`)."""

    name = "s4d"
    owned = ("log_a", "log_dt")

    @staticmethod
    def initialize(ad: nn.Module, draw: S4DDraw) -> None:
        """Install S4D-real draws as they are (`draw.pairs` does not apply to a diagonal `A`)."""
        for name in ("log_a", "log_dt", "B", "C"):
            setattr(ad, name, nn.Parameter(getattr(draw, name)))

    @staticmethod
    def powers(ad: nn.Module, n: torch.Tensor) -> tuple[torch.Tensor, None]:
        dta, _ = s4d_zoh(ad.log_a, ad.log_dt, ad.dt_min, ad.dt_max)
        return torch.exp(n * dta), None

    @staticmethod
    def B_bar(ad: nn.Module) -> torch.Tensor:
        _, scale = s4d_zoh(ad.log_a, ad.log_dt, ad.dt_min, ad.dt_max)
        return scale[:, None] * ad.B

    @staticmethod
    def partner(ad: nn.Module) -> None:
        return None

    @staticmethod
    def extra_repr(ad: nn.Module) -> str:
        return f", dt_min={ad.dt_min:g}, dt_max={ad.dt_max:g}"


class ModalParametrization:
    """Real modal parametrization: parameters `nu`, `theta`, buffer `partner` (plus `B`, `C`)."""

    name = "modal"
    owned = ("nu", "theta")

    @staticmethod
    def initialize(ad: nn.Module, draw: S4DDraw) -> None:
        """The same S4D system in modal form; with `draw.pairs`, half of the slots become conjugate
        pairs (each pair takes its first slot's modulus and a random angle in `[0, pi)`)."""
        modal = s4d_to_modal(draw.log_a, draw.log_dt, draw.B, draw.C, dt_min=ad.dt_min, dt_max=ad.dt_max)
        if draw.pairs:
            for j in range(0, 2 * (modal.rho.size // 2), 2):
                modal.partner[j], modal.partner[j + 1] = j + 1, j
                th = float(torch.rand((), generator=draw.generator, dtype=torch.float64)) * math.pi
                modal.theta[j] = modal.theta[j + 1] = th
                modal.rho[j + 1] = modal.rho[j]
        ModalParametrization.install(ad, modal, dtype=torch.float32, device=torch.device("cpu"))

    @staticmethod
    def install(
        ad: nn.Module, modal: hk.ModalRealization, *, dtype: torch.dtype, device: torch.device
    ) -> None:
        """Replace the adapter's system by `modal` (new shapes allowed): `nu`, `theta`, `B`, `C`, buffer
        `partner`."""
        d = int(modal.rho.size)
        rho = np.clip(np.asarray(modal.rho, dtype=float), 1e-30, None)
        require_stable("the modal parametrization", rho, discrete=True, n=d, hint="it holds stable modes")
        nu = np.log(-np.log(rho))
        for name in (*S4DParametrization.owned, *ModalParametrization.owned, "B", "C"):
            if name in ad._parameters:
                del ad._parameters[name]
        if "partner" in ad._buffers:
            del ad._buffers["partner"]

        def P(x: np.ndarray) -> nn.Parameter:
            t = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64)
            return nn.Parameter(t.to(dtype=dtype, device=device))

        ad.nu = P(nu)
        ad.theta = P(np.asarray(modal.theta, dtype=float))
        # B is stored normalized (see B_bar); divide by the scale the module will compute from
        # its own (rounded) nu, so that only the rounding of B itself remains.
        nu_stored = torch.as_tensor(nu, dtype=torch.float64).to(dtype).to(torch.float64).numpy()
        gamma = np.sqrt(-np.expm1(-2.0 * np.exp(nu_stored)))
        ad.B = P(np.asarray(modal.B, dtype=float) / gamma[:, None])
        ad.C = P(np.asarray(modal.C, dtype=float))
        ad.register_buffer("partner", torch.as_tensor(np.asarray(modal.partner, dtype=np.int64)).to(device))
        ad.d_state = d
        ad.parametrization = ModalParametrization.name

    @staticmethod
    def _pair_means(ad: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        # nu and theta of a pair are the mean over its two slots, so both slots train one mode.
        return 0.5 * (ad.nu + ad.nu[ad.partner]), 0.5 * (ad.theta + ad.theta[ad.partner])

    @staticmethod
    def powers(ad: nn.Module, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = ad.B.dtype
        nu, th = ModalParametrization._pair_means(ad)
        idx = torch.arange(ad.d_state, device=ad.partner.device)
        is_pair = ad.partner != idx
        sign = torch.where(ad.partner > idx, 1.0, -1.0).to(dtype) * is_pair.to(dtype)
        log_rho = -torch.exp(nu)
        mag = torch.exp(n * log_rho)
        ang = n * th
        lam_real = torch.exp(log_rho) * torch.cos(th)
        kd = torch.where(is_pair, mag * torch.cos(ang), torch.pow(lam_real, n))
        return kd, sign * mag * torch.sin(ang)

    @staticmethod
    def B_bar(ad: nn.Module) -> torch.Tensor:
        # B_bar = gamma B with gamma = sqrt(1 - rho^2) (the LRU normalization, Orvieto et al. 2023):
        # a unit white-noise input then gives each mode a state variance of |B|^2 whatever rho, so a
        # step on B moves slow and fast modes alike (a raw B_bar would be amplified by 1 / (1 - rho)
        # on slow modes and make plain optimizer steps unstable).
        nu, _ = ModalParametrization._pair_means(ad)
        return torch.sqrt(-torch.expm1(-2.0 * torch.exp(nu)))[:, None] * ad.B

    @staticmethod
    def partner(ad: nn.Module) -> torch.Tensor:
        return ad.partner

    @staticmethod
    def extra_repr(ad: nn.Module) -> str:
        return ""


#: The parametrization classes by name (the names of `hankelid_torch.options.PARAMETRIZATIONS`).
PARAMETRIZATION_CLASSES = {cls.name: cls for cls in (S4DParametrization, ModalParametrization)}
