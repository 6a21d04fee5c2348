r"""The HRM adapter: a linear state-space model beside a block, run as an exact FFT scan.

For one layer with input width `D_in` (hidden size), output width `D_out` and state size
`d`:

$$
s_t = \bar A s_{t-1} + \bar B u_t, \qquad y_t = \alpha\, C s_t,
\qquad \text{out} = \text{MLP}(u) + y
$$

with a learnable scalar gate `alpha` (`gate_init = 0` makes the adapter an exact no-op).
The state is read after the current input entered it, so the kernel is
`K_k = alpha C A^k B_bar` (`k >= 0`) and `y = K * u` is computed as a causal
convolution over the `d` state channels (`B_bar u` is `(batch, L, d)`; one
`rfft`/`irfft` pair; then `C`): `O(batch d L log L)` plus two `D x d` projections,
with no Python loop over time.

Two parametrizations, both with float32 parameters (float64 if the module is cast to
float64; casts to float16/bfloat16 are refused so bf16/fp16 models keep a float32 adapter):

`"s4d"` (S4D-real, the paper's)
:   `log_a`, `log_dt` (d), `B` (d x D_in), `C` (D_out x d), `gate` ():
    `a = -exp(log_a)`, `dt = clamp(softplus(log_dt), dt_min, dt_max)`, zero-order hold
    `A_bar = exp(dt a)`, `B_bar = (exp(dt a) - 1) / a * B` (per state).

`"modal"` (real modal form; holds any stable reduced model exactly)
:   `nu`, `theta` (d), `B` (d x D_in), `C` (D_out x d), `gate` () and the buffer
    `partner` (d, int64), with `B_bar = sqrt(1 - rho^2) B` (LRU's input normalization).
    Slot `j` with `partner[j] == j` is a real pole `rho_j cos(theta_j)`; slots
    `j < k = partner[j]` form the block
    `rho [[cos theta, sin theta], [-sin theta, cos theta]]` of the complex-conjugate pair
    `rho e^{+-i theta}`, with `rho = exp(-exp(nu))` (always stable) and `nu`, `theta`
    of a pair taken as the mean over its two slots.  Any diagonalizable stable `A_r` (a
    balanced truncation) is loaded exactly by
    [`SSMAdapter.load_state_space`][hankelid_torch.adapter.SSMAdapter.load_state_space].

Both parametrizations have the same number of trainable parameters,
`2 d + d D_in + D_out d + 1`
([`SSMAdapter.count_parameters`][hankelid_torch.adapter.SSMAdapter.count_parameters]).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import hankelid as hk

from . import init as _init
from .options import (
    HankelInitOptions,
    check_gate_init,
    check_positive_int,
    check_step_range,
    resolve_parametrization,
)
from .parametrization import PARAMETRIZATION_CLASSES, ModalParametrization, S4DDraw
from .scan import modal_fft_scan, no_autocast

__all__ = ["SSMAdapter"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _output_product(s: torch.Tensor, C_t: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
    """`s @ C_t`, or `base + s @ C_t` as one `addmm` (no separate block-sized product)."""
    return s @ C_t if base is None else torch.addmm(base, s, C_t)


class SSMAdapter(nn.Module):
    r"""Trainable linear SSM adapter (HRM) computing `alpha * C s_t` from the block input.

    Parameters
    ----------
    hidden_size : int
        Input width `D_in` (the MLP's input, i.e. the model's hidden size).
    d_state : int
        State size `d`.
    init : {"s4d", "random", "hankel"}
        `"s4d"`: S4D-real rates `a_n = -(n+1)`, `dt` log-uniform in
        `[dt_min, dt_max]`, random `B ~ N(0, 1/D_in)`, `C ~ N(0, 1/d)`.
        `"random"`: rates `-a` log-uniform in `[0.5, d+1]` (modal: half of the slots as
        conjugate pairs with random angles).  `"hankel"`: balanced truncation to order
        `d` of a richer S4D-real system of order `hankel_order` (see
        [`hankelid_torch.init.hankel_reduction`][hankelid_torch.init.hankel_reduction]), loaded exactly (modal
        only).
    parametrization : "s4d" | "modal", optional
        `None` (the default): `"modal"` for `init="hankel"`, else `"s4d"`.
    gate_init : float
        Initial gate `alpha` (0: exact no-op).
    dt_min : float
        Lower end of the clamp range of the S4D step size (and of its initialization).
    dt_max : float
        Upper end of that range.
    hankel : HankelInitOptions, optional
        Settings of `init="hankel"` ([`HankelInitOptions`][hankelid_torch.options.HankelInitOptions]:
        order `N` of the full system, default `4 d`; the Gramians, by default
        `"horizon"`, the closed-form Gramians over the horizon `length`, else `"exact"`
        or `"empirical"`; that horizon, the empirical estimator's input length; its number
        of trajectories).
    seed : int, optional
        Seed for the initialization (default: torch's global RNG).
    out_features : int, optional
        Output width `D_out` (default `hidden_size`).
    **hankel_keywords
        The same settings by `HRMConfig`'s flat names (`hankel_order`, `hankel_gramians`,
        `hankel_length`, `hankel_trajectories`), instead of `hankel`.

    Raises
    ------
    ValueError
        For non-positive sizes, an unknown `init` or `parametrization`, `init="hankel"`
        with `parametrization="s4d"` (a balanced truncation has complex and negative poles
        that only the modal form holds), `dt_min > dt_max`, a non-finite `gate_init`, or
        `hankel_order < d_state`.

    Notes
    -----
    The parameters are created on torch's default device (`with torch.device("meta")`
    gives a shape-only adapter; the Hankel init then skips its reduction).  The time
    convention and the link to `hankelid` are described in [`hankelid_torch.bridge`][hankelid_torch.bridge]:
    `to_state_space(adapter)` is `(A_bar, B_bar, alpha C, 0)` and
    `adapter.kernel(L) == hankelid.markov_parameters(to_state_space(adapter), L + 1)[1:]`.

    Examples
    --------
    >>> import torch
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> ad = SSMAdapter(16, 4, gate_init=0.5, seed=0)
    >>> u = torch.randn(2, 10, 16)
    >>> y, state = ad(u, return_state=True)
    >>> y.shape, state.shape
    (torch.Size([2, 10, 16]), torch.Size([2, 4]))
    >>> y_next, _ = ad.step(u[:, :1], state)              # decoding continues from the state
    >>> SSMAdapter.count_parameters(16, 4) == sum(p.numel() for p in ad.parameters())
    True
    """

    def __init__(
        self,
        hidden_size: int,
        d_state: int,
        *,
        init: str = "s4d",
        parametrization: str | None = None,
        gate_init: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        hankel: HankelInitOptions | None = None,
        seed: int | None = None,
        out_features: int | None = None,
        **hankel_keywords: Any,
    ) -> None:
        super().__init__()
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("d_state", d_state)
        parametrization = resolve_parametrization(init, parametrization)
        check_step_range(dt_min, dt_max)
        if hankel is not None and hankel_keywords:
            raise TypeError(
                f"pass the Hankel-init settings as `hankel` or as keywords, not both: {hankel_keywords}"
            )
        check_gate_init(gate_init)
        if hankel is None:
            hankel = HankelInitOptions.from_keywords(**hankel_keywords)
        self.in_features = int(hidden_size)
        self.out_features = int(hidden_size if out_features is None else out_features)
        self.d_state = int(d_state)
        self.parametrization = parametrization
        self.init_method = init
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.hankel_info: _init.HankelInit | None = None

        # The initialization is numerical work on the CPU (NumPy for the Hankel init) whatever the
        # ambient default device; the parameters then go to that device.  On "meta" (shape-only
        # models, e.g. parameter counting) the Hankel init's reduction is skipped.
        target = torch.get_default_device()
        with torch.device("cpu"):
            self._initialize(init, float(gate_init), hankel, seed, shapes_only=target.type == "meta")
        if target.type != "cpu":
            self.to(target)

    def _initialize(
        self, init: str, gate_init: float, hankel: HankelInitOptions, seed: int | None, *, shapes_only: bool
    ) -> None:
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(int(seed))
        d, Din, Dout = self.d_state, self.in_features, self.out_features
        self.gate = nn.Parameter(torch.tensor(gate_init, dtype=torch.float32))
        cpu = torch.device("cpu")

        if init == "hankel" and shapes_only:
            placeholder = hk.ModalRealization(
                rho=np.full(d, 0.5),
                theta=np.zeros(d),
                partner=np.arange(d),
                B=np.zeros((d, Din)),
                C=np.zeros((Dout, d)),
                condition=1.0,
            )
            self._set_modal(placeholder, dtype=torch.float32, device=cpu)
            return
        if init == "hankel":
            info = _init.hankel_reduction(
                Din, Dout, d, hankel, dt_min=self.dt_min, dt_max=self.dt_max, seed=seed, generator=gen
            )
            self._load_hankel(info, dtype=torch.float32, device=cpu)
            return
        draw = _init.s4d_real if init == "s4d" else _init.random_s4d
        log_a, log_dt = draw(d, dt_min=self.dt_min, dt_max=self.dt_max, generator=gen)
        B, C = _init.input_output_matrices(Din, Dout, d, generator=gen)
        # "random" in modal form: half of the slots as conjugate pairs with random angles
        self._kind.initialize(self, S4DDraw(log_a, log_dt, B, C, pairs=init == "random", generator=gen))

    # ------------------------------------------------------------------ bookkeeping
    @staticmethod
    def count_parameters(hidden_size: int, d_state: int, out_features: int | None = None) -> int:
        """Trainable parameters of one adapter: `2 d + d D_in + D_out d + 1` (both parametrizations)."""
        out = hidden_size if out_features is None else out_features
        return 2 * d_state + d_state * hidden_size + out * d_state + 1

    def extra_repr(self) -> str:
        s = f"hidden_size={self.in_features}, d_state={self.d_state}"
        if self.out_features != self.in_features:
            s += f", out_features={self.out_features}"
        s += f", parametrization={self.parametrization!r}, init={self.init_method!r}"
        return s + self._kind.extra_repr(self)

    def _apply(self, fn, recurse=True):
        # Keep the adapter in float32 (or float64) when the model is cast to fp16/bf16: the scan
        # and the parameters stay in full precision, only the device follows.
        ref = self.gate
        probe = fn(torch.zeros((), dtype=torch.float32, device=ref.device))
        if isinstance(probe, torch.Tensor) and probe.dtype in _LOW_PRECISION:
            device = probe.device

            def keep_precision(t: torch.Tensor) -> torch.Tensor:
                if t.is_floating_point():
                    return t.to(device=device)
                return fn(t)

            return super()._apply(keep_precision, recurse)
        return super()._apply(fn, recurse)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # A checkpoint with NaN/inf parameters would make every output NaN with no error: refuse it
        # before anything of this adapter is copied.
        for key, value in state_dict.items():
            if (
                key.startswith(prefix)
                and isinstance(value, torch.Tensor)
                and value.is_floating_point()
                and not value.is_meta
                and not bool(torch.isfinite(value).all())
            ):
                bad = "NaN" if bool(torch.isnan(value).any()) else "inf"
                raise ValueError(
                    f"refusing to load {key!r}: it contains {bad} values (a corrupt or diverged adapter)"
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    @property
    def _kind(self) -> type:
        """The parametrization class ([`hankelid_torch.parametrization`][hankelid_torch.parametrization]) of
        this adapter."""
        return PARAMETRIZATION_CLASSES[self.parametrization]

    @property
    def _dtype(self) -> torch.dtype:
        return self.B.dtype

    @property
    def _device(self) -> torch.device:
        return self.B.device

    def _load_hankel(self, info: _init.HankelInit, *, dtype: torch.dtype, device: torch.device) -> None:
        """Install a Hankel init's reduced model exactly (modal form) and keep its diagnostics."""
        self._set_modal(hk.modal_realization(*info.reduced.matrices[:3]), dtype=dtype, device=device)
        self.hankel_info = info

    def _set_modal(self, modal: hk.ModalRealization, *, dtype: torch.dtype, device: torch.device) -> None:
        """Install a modal realization (new shapes allowed; switches to the modal parametrization)."""
        ModalParametrization.install(self, modal, dtype=dtype, device=device)

    # ------------------------------------------------------------------ the system
    def _powers(self, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`A_bar^n` as `(k_diag, k_off)`, shapes `n.shape + (d,)` (`k_off` None for S4D)."""
        return self._kind.powers(self, n.to(self._dtype)[..., None])

    def _B_bar(self) -> torch.Tensor:
        return self._kind.B_bar(self)

    def _partner(self) -> torch.Tensor | None:
        return self._kind.partner(self)

    def discrete_system(
        self, *, include_gate: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(A_bar, B_bar, C)` as the scan runs them.

        `A_bar` is 1-D (diagonal) for `"s4d"` and the 2-D real block-diagonal matrix for
        `"modal"`.  `C` includes the gate when `include_gate`.
        """
        with no_autocast(self._device):
            one = torch.ones((), device=self._device)
            kd, ko = self._powers(one)
            if ko is None:
                A = kd
            else:
                d = self.d_state
                idx = torch.arange(d, device=self._device)
                A = torch.zeros(d, d, dtype=self._dtype, device=self._device)
                A = A.index_put((idx, idx), kd, accumulate=True)
                A = A.index_put((idx, self.partner), ko, accumulate=True)
            C = self.C * self.gate if include_gate else self.C
            return A, self._B_bar(), C

    def state_kernel(self, length: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-state kernels `(k_diag, k_off)` of `A_bar^k`, k < length, shape (length, d)."""
        with no_autocast(self._device):
            return self._powers(torch.arange(length, device=self._device))

    def kernel(self, length: int, *, include_gate: bool = True) -> torch.Tensor:
        r"""The full convolution kernel `K_k = alpha C A_bar^k B_bar`, shape (length, D_out, D_in).

        This is the adapter's impulse response: feeding `u_0 = e_j` (zero otherwise) gives
        `y_t = K_t[:, j]`.  It equals `hankelid.markov_parameters(to_state_space(...),
        length + 1)[1:]` (see [`hankelid_torch.bridge.to_state_space`][hankelid_torch.bridge.to_state_space]).
        """
        with no_autocast(self._device):
            kd, ko = self.state_kernel(length)
            Bb = self._B_bar()
            C = self.C * self.gate if include_gate else self.C
            K = torch.einsum("pi,li,im->lpm", C, kd, Bb)
            if ko is not None:
                K = K + torch.einsum("pi,li,im->lpm", C, ko, Bb[self.partner])
            return K

    # ------------------------------------------------------------------ running it
    def _advance(self, s: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """`A_bar^n s` for states `s` (..., d) and integer counts `n` broadcastable to s[..., 0]."""
        kd, ko = self._powers(n)
        out = kd * s
        if ko is not None:
            out = out + ko * s[..., self.partner]
        return out

    def forward(
        self,
        u: torch.Tensor,
        mask: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
        return_state: bool = False,
        base: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        r"""The adapter's additive output `alpha C s_t` for a batch of sequences.

        Parameters
        ----------
        u : Tensor, shape (B, L, D_in) or (L, D_in)
            Block input, any float dtype (computed in float32 with autocast disabled).
        mask : Tensor, shape (B, L') with L' >= L, optional
            1 for real tokens, 0 for padding (the last `L` columns are used, so the full
            attention mask of a decoding step can be passed).  Padded positions never enter the
            state and do not advance time: real tokens are scanned as if the padding were
            absent (left, right or interior padding), and the output at padded positions is 0.
        state : Tensor, shape (B, d), optional
            State before the first token (from a previous call); zero when omitted.
        return_state : bool
            Also return the state after the last real token (for decoding).
        base : Tensor, shape (B, L, D_out), optional
            The wrapped block's output: the result is then `base + alpha C s_t` in `base`'s
            dtype.  For a float32 `base` the sum is fused into the output product (one
            `addmm`), which saves the block-sized intermediate and its extra pass.

        Returns
        -------
        y : Tensor, shape (B, L, D_out), dtype of `u` (of `base` when given)
        final_state : Tensor, shape (B, d), float32 -- only with `return_state`
        """
        squeeze = u.dim() == 2
        if squeeze:
            u = u[None]
            if mask is not None and mask.dim() == 1:
                mask = mask[None]
            if state is not None and state.dim() == 1:
                state = state[None]
        if u.dim() != 3 or u.shape[-1] != self.in_features:
            raise ValueError(f"u must have shape (B, L, {self.in_features}), got {tuple(u.shape)}")
        Bsz, L, _ = u.shape
        out_dtype = u.dtype
        d = self.d_state
        fused = None  # the (B L, D_out) float32 block output to fuse into the output product
        if base is not None:
            base = base[None] if squeeze and base.dim() == 2 else base
            if tuple(base.shape) != (Bsz, L, self.out_features):
                raise ValueError(
                    f"base must have shape ({Bsz}, {L}, {self.out_features}), got {tuple(base.shape)}"
                )
            out_dtype = base.dtype
            if base.dtype == self._dtype:
                fused = base.reshape(Bsz * L, self.out_features)
        with no_autocast(u.device):
            x = u.to(self._dtype)
            if state is not None:
                state = state.to(device=x.device, dtype=x.dtype).expand(Bsz, d)
            kd, ko = self.state_kernel(L)
            partner = self._partner()
            # alpha C as a contiguous (d, D_out) matrix: y = s @ C_t, and its gradient is the
            # cheap s^T @ dy (a (d x L) @ (L x D_out) product) rather than dy^T @ s.
            C_t = (self.C * self.gate).t().contiguous()
            if mask is None:
                # Channel-first: v^T = B_bar x^T is one (d x D_in) @ (D_in x B L) product, the scan
                # runs along the contiguous time axis of (d, B, L), and y = (s^T)^T C_t reads it
                # back without a transposed copy of the (B, L, D) activations.
                x2 = x.reshape(Bsz * L, self.in_features)
                vT = (self._B_bar() @ x2.t()).view(d, Bsz, L)
                sT = modal_fft_scan(vT, kd, ko, partner, channels_first=True)  # (d, B, L)
                if state is not None:
                    steps = torch.arange(1, L + 1, device=x.device)
                    sT = sT + self._advance(state[:, None, :], steps[None, :]).permute(2, 0, 1)
                final = sT[..., -1].t()
                # contiguous (d, B L) states (small): the gradient of y w.r.t. them is then also
                # the cheap C_t @ dy^T product (autograd picks it for a column-major operand)
                sT = sT.reshape(d, Bsz * L).contiguous()
                y = _output_product(sT.t(), C_t, fused).view(Bsz, L, self.out_features)
            else:
                v = F.linear(x, self._B_bar())  # (B, L, d)
                if mask.dim() != 2 or mask.shape[0] != Bsz or mask.shape[1] < L:
                    raise ValueError(
                        f"mask must have shape (B, >= L) = ({Bsz}, >= {L}), got {tuple(mask.shape)}"
                    )
                real = mask[:, -L:].to(device=v.device) != 0
                # Stable sort: padding first, real tokens after in their order.  The scan then
                # sees each row as a left-padded sequence whose pads carry zero input: exact.
                order = torch.sort(real.to(torch.int32), dim=1, stable=True).indices
                inverse = torch.argsort(order, dim=1)
                real_sorted = real.gather(1, order)
                idx = order[..., None].expand(-1, -1, d)
                v_sorted = v.gather(1, idx) * real_sorted[..., None].to(v.dtype)
                s_sorted = modal_fft_scan(v_sorted, kd, ko, partner)
                if state is not None:
                    count = torch.cumsum(real_sorted.to(torch.int64), dim=1)
                    s_sorted = s_sorted + self._advance(state[:, None, :], count)
                final = s_sorted[:, -1]
                s = s_sorted.gather(1, inverse[..., None].expand(-1, -1, d))
                # zero output at pads; cheaper on the d states than on the D outputs
                s = s * real[..., None].to(s.dtype)
                y = _output_product(s.reshape(Bsz * L, d), C_t, fused).view(Bsz, L, self.out_features)
        y = y.to(out_dtype) if base is None or fused is not None else base + y.to(out_dtype)
        if squeeze:
            y, final = y[0], final[0]
        if return_state:
            return y, final
        return y

    def step(
        self, u_t: torch.Tensor, state: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One decoding step: `s = A_bar s + B_bar u_t`, `y_t = alpha C s`.

        Parameters
        ----------
        u_t : Tensor, shape (B, 1, D_in) or (B, D_in)
        state : Tensor, shape (B, d), optional (zero when omitted)
        mask : Tensor, shape (B,) or (B, >= 1), optional
            0 marks a padded token: its state is left unchanged and its output is 0.  With a
            2-D mask the last column is used (the full attention mask may be passed).

        Returns
        -------
        (y_t, new_state) : `y_t` of the shape and dtype of `u_t`; `new_state` (B, d).
        """
        squeeze_time = u_t.dim() == 3
        x = u_t[:, -1] if squeeze_time else u_t
        if squeeze_time and u_t.shape[1] != 1:
            raise ValueError(f"step() takes one token, got u_t of shape {tuple(u_t.shape)}; use forward()")
        with no_autocast(x.device):
            x = x.to(self._dtype)
            v = F.linear(x, self._B_bar())
            if state is None:
                new = v
            else:
                s = state.to(device=v.device, dtype=v.dtype)
                new = self._advance(s, torch.ones((), device=v.device)) + v
            if mask is not None:
                m = mask[..., -1] if mask.dim() == 2 else mask
                m = (m != 0)[..., None]
                old = torch.zeros_like(new) if state is None else state.to(device=v.device, dtype=v.dtype)
                new = torch.where(m, new, old)
            out = new if mask is None else new * m.to(new.dtype)
            y = F.linear(out, self.C * self.gate)
        y = y.to(u_t.dtype)
        if squeeze_time:
            y = y[:, None]
        return y, new

    # ------------------------------------------------------------------ loading systems
    def load_state_space(self, sys: hk.StateSpace, *, gate: str | float = "keep") -> SSMAdapter:
        r"""Load a discrete system exactly (switches to the `"modal"` parametrization).

        `sys` is read in the adapter's kernel convention (see
        [`hankelid_torch.bridge.to_state_space`][hankelid_torch.bridge.to_state_space]): a strictly proper
        `(A, B, C, 0)` becomes the adapter `A_bar = A`, `B_bar = B`, `alpha C_adapter = C`, i.e. the
        adapter's kernel becomes `markov_parameters(sys, L + 1)[1:]`.  A system with a
        feed-through `D` is accepted when it is a same-step realization
        `(A, B, C' A, C' B)` (`to_state_space(..., feedthrough=True)`); `C'` is then
        recovered by least squares.  The state size becomes `sys.n` (parameters are
        replaced: rebuild optimizers afterwards).

        Parameters
        ----------
        sys : hankelid.StateSpace
            Discrete-time, stable, with `m = D_in` inputs and `p = D_out` outputs.
        gate : "keep", "one" or float
            `"keep"`: the current gate is kept and `C = sys.C / gate` (a zero gate keeps
            `C = sys.C`: the loaded system then sits behind a closed gate); `"one"` or a
            number: the gate is set to it and `C = sys.C / gate`.

        Returns
        -------
        self
        """
        if not isinstance(sys, hk.StateSpace):
            sys = hk.as_state_space(sys)
        if not sys.is_discrete:
            raise ValueError("load_state_space needs a discrete-time system (dt set); discretize it first")
        if sys.m != self.in_features or sys.p != self.out_features:
            raise ValueError(
                f"the system maps {sys.m} inputs to {sys.p} outputs; this adapter maps "
                f"{self.in_features} to {self.out_features}"
            )
        A, B, C, D = (np.asarray(M, dtype=float) for M in sys.matrices)
        if np.any(D != 0):
            C = _same_step_readout(A, B, C, D)
        if gate == "keep":
            g = float(self.gate.detach().cpu())
        elif gate == "one":
            g = 1.0
        else:
            g = float(gate)
        modal = hk.modal_realization(A, B, C)
        if g != 0.0:
            modal.C = modal.C / g
        dtype, device = self._dtype, self._device
        self._set_modal(modal, dtype=dtype, device=device)
        self.init_method = "state_space"
        with torch.no_grad():
            self.gate.fill_(g)
        return self

    def hankel_init_from_data(self, inputs: Any, *, gramians: str | None = None) -> _init.HankelInit:
        r"""Redo the Hankel init with task data: the full system's data Gramian on the input side.

        The same richer system the Hankel init reduced (kept in `hankel_info.full`) is
        balance-truncated again to `d_state` states, now with the controllability Gramian of
        the recorded inputs `inputs`
        ([`hankelid_torch.init.reduce_full_system`][hankelid_torch.init.reduce_full_system]), and loaded
        exactly; the gate is kept.  Parameters are replaced: call it before building the optimizer.
        [`hankelid_torch.hankel_init_from_data`][hankelid_torch.data_init.hankel_init_from_data] does this for
        every adapter of a model from its own activations.

        Parameters
        ----------
        inputs : array_like or Tensor, shape (K, L, D_in)
            `K` recorded input sequences of this adapter.
        gramians : "horizon" | "exact" | "empirical", optional
            Observability side (`None`, the default: what the Hankel init used).

        Returns
        -------
        HankelInit
            Also stored as `hankel_info`.

        Raises
        ------
        ValueError
            If the adapter was not Hankel-initialized in this process (no full system kept),
            or `inputs` has the wrong shape or non-finite values.

        Examples
        --------
        >>> import torch
        >>> ad = SSMAdapter(8, 3, init="hankel", hankel_gramians="exact", seed=0)
        >>> info = ad.hankel_init_from_data(torch.randn(4, 32, 8).cumsum(1))
        >>> ad.d_state, info.options["inputs"]
        (3, 'data (4, 32, 8)')
        """
        info = self.hankel_info
        if info is None:
            raise ValueError(
                "hankel_init_from_data needs the full system of a Hankel init made in this process "
                "(init='hankel'); this adapter has none"
            )
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().to(device="cpu", dtype=torch.float64).numpy()
        settings = info.settings if gramians is None else replace(info.settings, gramians=gramians)
        new = _init.reduce_full_system(
            info.full,
            self.d_state,
            settings,
            seed=info.options.get("seed"),
            inputs=np.asarray(inputs, dtype=np.float64),
        )
        self._load_hankel(new, dtype=self._dtype, device=self._device)
        return new

    @classmethod
    def from_state_space(cls, sys: hk.StateSpace, *, gate: float = 1.0, **kwargs: Any) -> SSMAdapter:
        """A new modal adapter holding `sys` exactly (`gate` as given, default 1)."""
        ad = cls(sys.m, sys.n, out_features=sys.p, parametrization="modal", init="s4d", **kwargs)
        return ad.load_state_space(sys, gate=float(gate))


def _same_step_readout(A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray) -> np.ndarray:
    """`C'` with `C' [A, B] = [C, D]` (a same-step realization), or a clear error."""
    M = np.hstack([A, B])
    R = np.hstack([C, D])
    Cp, *_ = np.linalg.lstsq(M.T, R.T, rcond=None)
    Cp = Cp.T
    resid = np.linalg.norm(Cp @ M - R)
    if resid > 1e-8 * max(1.0, np.linalg.norm(R)):
        raise ValueError(
            "the system has a feed-through D that the adapter cannot hold: its output is C s_t with "
            "s_t = A s_{t-1} + B u_t, so D must equal C' B with C = C' A. Pass the strictly proper "
            "system (A, B, C, 0) whose Markov parameters h_{k+1} are the adapter's kernel"
        )
    return Cp
