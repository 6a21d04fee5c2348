"""Write `notebooks/identification_io.ipynb` (without outputs) from the cells below.

Usage::

    python scripts/build_identification_io_notebook.py            # write the notebook
    python scripts/build_identification_io_notebook.py --execute  # and run it once (small settings)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PATH = Path(__file__).resolve().parents[1] / "notebooks" / "identification_io.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        r"""# Identification from measured input/output data: a buck converter

A DC-DC buck converter was driven by a varying duty-cycle signal and its output voltage
recorded every 10 µs, twice: once to estimate a model, once to validate it
(`hk.datasets.buck()`, from the MIT-licensed SysIdentPy data repository). This is the
situation identification is for: one input record, one noisy output record, no Markov
parameters. The output is quantized (steps of 0.1) and the converter is mildly nonlinear, so
a linear model will not be perfect; the question is how good it can be and how to tell.

The workflow:

1. look at the data and remove the operating point (detrend);
2. read the order off the weighted singular values of the subspace method (`hk.n4sid`,
   `hk.plot.order_selection`);
3. identify with the subspace methods (N4SID, PO-MOESP, CVA) and with OKID;
4. compare the models on the validation record (`hk.compare`, fit in %);
5. check the residuals: are the prediction errors white and independent of the input
   (`hk.residuals`)?
6. identify a generous high-order model and reduce it by balanced truncation, with the
   a-priori error bound (`hk.balanced_truncation` takes the identification result directly).

Background: [Identification from input/output data](../docs/concepts/io-identification.md).""",
    ),
    (
        "code",
        """import os

import matplotlib.pyplot as plt
import numpy as np

import hankelid as hk

SMALL = os.environ.get("HANKELID_NB_SMALL") == "1"  # set by the test suite: fewer orders scanned
np.set_printoptions(precision=4, suppress=True)""",
    ),
    ("md", "## 1. The data"),
    (
        "code",
        """est_raw, val_raw = hk.datasets.buck()
print(est_raw)
print(val_raw)
t = est_raw.time()
fig, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
axes[0].plot(t * 1e3, est_raw.u[0], lw=0.8)
axes[0].set_ylabel("input (duty cycle)")
axes[1].plot(t * 1e3, est_raw.y[0], lw=0.8)
axes[1].set_ylabel("output voltage")
axes[1].set_xlabel("time [ms]")
axes[0].set_title("Estimation record");""",
    ),
    (
        "md",
        r"""Both signals sit on an operating point (input about 2.2, output about 14). A linear model
describes deviations from it, so we remove each record's mean. (`detrend("linear")` would also
remove a drift; `retrend()` puts the offsets back.)""",
    ),
    (
        "code",
        """est = est_raw.detrend()
val = val_raw.detrend()
print("estimation input/output std:", est.u[0].std(), est.y[0].std())""",
    ),
    (
        "md",
        r"""## 2. Order selection

`hk.n4sid` compresses the block Hankel matrices of past and future inputs and outputs with
one LQ factorization and takes a weighted SVD of the projection of future outputs onto the
past. With the CVA weighting the singular values are canonical correlations between past
and future (at most 1). For noise-free data they drop to zero after the true order; for
measured data they level off at a **noise floor**. The order is the minimizer of Bauer's
criterion \(\rho_{n+1}^2 + n(m+2p)\log J / J\) (BIC penalty) among the orders above twice
the floor; `ident.info` records the rule and the values.""",
    ),
    (
        "code",
        """cva = hk.n4sid(est, method="cva")
print(cva)
print("rule:", cva.info["order_rule"], " noise floor:", round(cva.info["noise_floor"], 4))
print("canonical correlations:", cva.info["canonical_correlations"][:8])
hk.plot.order_selection(cva, max_index=20);""",
    ),
    (
        "md",
        r"""Two canonical correlations stand clearly above the rest: the converter behaves, at this
noise level, like a second-order system (an LC filter). We identify order-2 models with
every method, plus the order each method picks by itself.

## 3. Subspace methods and OKID

- **N4SID**, **PO-MOESP** and **CVA** differ only in the weighting of the SVD.
- **OKID** fits a high-order ARX model (the observer, order by BIC), turns its coefficients
  into Markov parameters and realizes them with ERA.

An unconstrained subspace estimate can come out unstable when the data are short and
noisy; `stable=True` then regularizes the shift equation just enough (and leaves stable
estimates untouched).""",
    ),
    (
        "code",
        """models = {
    "n4sid (2, stable)": hk.n4sid(est, 2, stable=True),
    "moesp (2)": hk.n4sid(est, 2, method="moesp"),
    "cva (2)": hk.n4sid(est, 2, method="cva"),
    "moesp (auto)": hk.n4sid(est, method="moesp"),
    "okid (auto)": hk.okid(est),
}
plain = hk.n4sid(est, 2)
print("plain n4sid at order 2 is stable:", plain.system.is_stable())
print("n4sid stabilization weight:", models["n4sid (2, stable)"].info["stabilization_weight"])
for name, ident in models.items():
    stable = ident.system.is_stable()
    print(f"{name:18s} order {ident.order:2d}  estimation fit {ident.fit.round(1)} %  stable {stable}")""",
    ),
    (
        "md",
        r"""## 4. Validation

`hk.compare` simulates every model on the validation input (initial state estimated by
least squares, as MATLAB's `compare`) and reports the fit
\(100\,(1 - \lVert y - \hat y\rVert / \lVert y - \bar y\rVert)\) per output. One-step-ahead
prediction through the innovation form (`horizon=1`) uses the noise model too.""",
    ),
    (
        "code",
        """sim = hk.compare(val, *models.values())
pred = hk.compare(val, *models.values(), horizon=1)
print(f"{'model':18s} {'simulation':>11s} {'1-step':>8s}")
for name, f_sim, f_pred in zip(models, sim.fit[:, 0], pred.fit[:, 0]):
    print(f"{name:18s} {f_sim:10.1f}% {f_pred:7.1f}%")

best = max(models, key=lambda k: sim.fit[list(models).index(k), 0])
k = list(models).index(best)
tv = val.time() * 1e3
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(tv, val.y[0][:, 0], color="0.3", lw=0.8, label="measured (detrended)")
ax.plot(tv, sim.predictions[k][0][:, 0], lw=1.0, label=f"{best}: {sim.fit[k, 0]:.1f} %")
ax.set_xlabel("time [ms]")
ax.legend(loc="upper right")
ax.set_title("Validation record");""",
    ),
    (
        "md",
        r"""## 5. Residuals

A model has captured what is predictable when its one-step prediction errors are white
(auto-correlation inside the 99 % band \(\pm z_{0.995}/\sqrt N\)) and uncorrelated with past
inputs. Quantization and the converter's nonlinearity leave some structure here — which
is what the test is for.""",
    ),
    (
        "code",
        """res = hk.residuals(models[best], val)
print("white:", res.white, " p =", res.whiteness_pvalue.round(3))
print("independent of the input:", res.independent, " p =", res.independence_pvalue.round(3))
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].stem(res.lags[1:], res.auto[0, 1:])
axes[0].axhspan(-res.auto_bound, res.auto_bound, color="C1", alpha=0.2)
axes[0].set_title("auto-correlation of the errors")
axes[1].stem(res.cross_lags, res.cross[0, 0])
axes[1].axhspan(-res.cross_bound[0, 0], res.cross_bound[0, 0], color="C1", alpha=0.2)
axes[1].set_title("cross-correlation with the input")
for a in axes:
    a.set_xlabel("lag")""",
    ),
    (
        "md",
        r"""## 6. Identify high, reduce with a bound

Subspace and OKID models are not balanced. A common recipe is to identify a generous
model (here OKID with its automatic order, which for these data is generous) and reduce it
by balanced truncation: `hk.balanced_truncation` accepts the identification result, returns
the reduced model with the a-priori bound
\(\lVert G - G_r\rVert_\infty \le 2\sum_{i>r}\sigma_i\), and the validation fit tells how
much of the high-order model was noise.""",
    ),
    (
        "code",
        """high = hk.okid(est)  # automatic order: generous for these data
sig = hk.hsv(high)
print("high-order model:", high.order, "states, validation fit",
      hk.compare(val, high).fit[0].round(1), "%")
print("Hankel singular values:", sig.round(3))
orders = range(1, 7)
print(f"{'r':>2s} {'bound':>9s} {'|G-G_r|inf':>11s} {'val fit':>8s}")
for r in orders:
    red = hk.balanced_truncation(high, r)
    err = hk.hinf_norm(high.system - red.system)
    fit = hk.compare(val, red.system).fit[0, 0]
    assert sig[r] <= err * (1 + 1e-6) and err <= red.error_bound * (1 + 1e-6)
    print(f"{r:2d} {red.error_bound:9.3f} {err:11.3f} {fit:7.1f}%")
hk.plot.hankel_spectrum(sig);""",
    ),
    (
        "md",
        r"""The bound brackets the true error (\(\sigma_{r+1} \le \lVert G - G_r\rVert_\infty \le
2\sum_{i>r}\sigma_i\), checked above for every order; the upper bound is loose here
because the Hankel singular values decay slowly). A low-order truncation of the generous
model validates as well as, or better than, the low-order models identified directly: the
high-order fit averages over more of the data before the order is cut.

**Takeaways.** Detrend; read the order from the singular values (canonical correlations
make the noise floor visible); compare methods on data the models have not seen; check
the residuals; and when in doubt identify high and reduce with a bound.""",
    ),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(CELLS):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"io{i:02d}"
        nb.cells.append(cell)
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--execute", action="store_true", help="run it once with small settings")
    args = parser.parse_args()
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, PATH)
    print(f"wrote {PATH}")
    if args.execute:
        import nbclient

        os.environ.setdefault("HANKELID_NB_SMALL", "1")
        os.environ.setdefault("MPLBACKEND", "Agg")
        run = nbformat.read(PATH, as_version=4)
        nbclient.NotebookClient(run, timeout=240, kernel_name="python3").execute()
        errors = [
            o
            for c in run.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.get("output_type") == "error"
        ]
        if errors:
            raise SystemExit(f"notebook failed: {errors[0].get('ename')}: {errors[0].get('evalue')}")
        for c in run.cells:
            if c.cell_type == "code":
                for o in c.outputs:
                    if o.get("output_type") == "stream":
                        print(o["text"], end="")
        print("executed without errors")


if __name__ == "__main__":
    main()
