r"""Render ``report.json`` as one self-contained HTML page.

The page needs nothing but itself: the style is inline, the equations are
MathML written directly (Chromium, Firefox and Safari render MathML Core with
no script and no CDN), and the plots are drawn here with matplotlib's Agg
backend and embedded as base64 PNG. Every number the page shows comes from the
report dict and is wrapped in ``<span data-k="path/in/the/json">`` so a test
can check that the page and the JSON agree. Every string that can come from an
implementation under test (names, messages, reproducers, diagnoses) goes
through :func:`esc`.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re

PAGE_TITLE = "gradspec verification report"


# --------------------------------------------------------------------------- small helpers
def esc(value) -> str:
    """HTML-escape anything (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value, spec: str = ".4g") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or value >= 1e308:
            return "inf"
        return format(value, spec)
    return str(value)


def jp(key) -> str:
    """One JSON-pointer path component (RFC 6901): ``~`` -> ``~0``, ``/`` -> ``~1``."""
    return str(key).replace("~", "~0").replace("/", "~1")


def k(path: str, value, spec: str = ".4g") -> str:
    """A number or string from the JSON at ``path``, tagged for the page/JSON agreement test."""
    return f'<span data-k="{esc(path)}">{esc(fmt(value, spec))}</span>'


def badge(status: str, path: str | None = None) -> str:
    text = esc(status.replace("_", " "))
    attr = f' data-k="{esc(path)}"' if path else ""
    return f'<span class="badge s-{esc(status)}"{attr}>{text}</span>'


def agree_badge(ok: bool, path: str) -> str:
    return (f'<span class="badge {"s-pass" if ok else "s-fail"}" data-k="{esc(path)}" data-bool="1">'
            f'{"agrees" if ok else "disagrees"}</span>')


def table(headers, rows, cls="") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --------------------------------------------------------------------------- MathML
def _m(tag, *children, **attrs) -> str:
    a = "".join(f' {k.rstrip("_")}="{esc(v)}"' for k, v in attrs.items())
    return f"<{tag}{a}>{''.join(children)}</{tag}>"


def mi(x):
    return _m("mi", esc(x))


def mo(x):
    return _m("mo", esc(x))


def mn(x):
    return _m("mn", esc(x))


def row(*c):
    return _m("mrow", *c)


def sup(b, s):
    return _m("msup", b, s)


def sub(b, s):
    return _m("msub", b, s)


def subsup(b, s, p):
    return _m("msubsup", b, s, p)


def frac(a, b):
    return _m("mfrac", a, b)


def math_block(*c, label="") -> str:
    return f'<math display="block" class="eq" data-eq="{esc(label)}">{row(*c)}</math>'


def _bp_equations() -> list[tuple[str, str, str, str]]:
    """(label, column layout (Nielsen, one example), row layout (protocol, N-example batch), words)."""
    d, a, z, W, b, C = mi("δ"), mi("a"), mi("z"), mi("W"), mi("b"), mi("C")
    L, l = mi("L"), mi("l")
    lp1 = row(mi("l"), mo("+"), mn("1"))
    lm1 = row(mi("l"), mo("−"), mn("1"))
    T = mi("⊤")
    odot = mo("⊙")
    sp = lambda q: row(sup(mi("σ"), mo("′")), mo("("), q, mo(")"))  # noqa: E731
    D, A, Z = mi("Δ"), mi("A"), mi("Z")
    partial = lambda num, den: frac(row(mo("∂"), num), row(mo("∂"), den))  # noqa: E731
    return [
        ("BP1",
         math_block(sup(d, L), mo("="), sub(mo("∇"), a), C, odot, sp(sup(z, L)), label="BP1-column"),
         math_block(sup(D, L), mo("="), sub(mo("∇"), sup(A, L)), C, odot, sp(sup(Z, L)), label="BP1-row"),
         "the error of the output layer"),
        ("BP2",
         math_block(sup(d, l), mo("="), row(mo("("), sup(row(sup(W, lp1)), T), sup(d, lp1), mo(")")), odot, sp(sup(z, l)),
                    label="BP2-column"),
         math_block(sup(D, l), mo("="), row(mo("("), sup(D, lp1), sup(row(sup(W, lp1)), T), mo(")")), odot, sp(sup(Z, l)),
                    label="BP2-row"),
         "the error of layer l from the error of layer l+1"),
        ("BP3",
         math_block(partial(C, subsup(b, mi("j"), l)), mo("="), subsup(d, mi("j"), l), mo(";"), mspace(),
                    partial(C, sup(b, l)), mo("="), frac(mn("1"), mi("m")), sup(d, l), mi("𝟏"),
                    label="BP3-column"),
         math_block(partial(C, sup(b, l)), mo("="), _m("munder", mo("∑"), mi("n")), subsup(D, row(mi("n"), mo("·")), l),
                    label="BP3-row"),
         "the bias gradient is the error (summed over the batch)"),
        ("BP4",
         math_block(partial(C, subsup(mi("w"), row(mi("j"), mi("k")), l)), mo("="), subsup(a, mi("k"), lm1), subsup(d, mi("j"), l),
                    mo(";"), mspace(), partial(C, sup(W, l)), mo("="), frac(mn("1"), mi("m")), sup(d, l),
                    sup(row(sup(a, lm1)), T), label="BP4-column"),
         math_block(partial(C, sup(W, l)), mo("="), sup(row(sup(A, lm1)), T), sup(D, l), label="BP4-row"),
         "the weight gradient is input activation times error"),
    ]


def mspace():
    return '<mspace width="1em"></mspace>'


# --------------------------------------------------------------------------- plots
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figure(data: str, alt: str, caption: str) -> str:
    """An inline PNG (base64 ``data``) with its caption."""
    return (f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


COLORS = {"std1": "#d62728", "std0.01": "#7f7f7f", "lecun": "#1f77b4", "glorot_normal": "#17becf",
          "glorot_uniform": "#2ca02c", "he": "#ff7f0e", "classic_uniform": "#9467bd"}


def _vanishing_plot(v, quantity: str, depth: int, activations, title: str):
    plt = _plt()
    n = len(activations)
    fig, axes = plt.subplots(1, n, figsize=(3.9 * n + 2.0, 3.4), sharey=False)
    axes = axes if len(activations) > 1 else [axes]
    for ax, act in zip(axes, activations):
        for c in v["configs"]:
            if c["activation"] != act or c["depth"] != depth:
                continue
            med = c["measured"][quantity]["median"]
            lo, hi = c["measured"][quantity]["min"], c["measured"][quantity]["max"]
            th = c["theory"][quantity]
            x = list(range(len(med))) if quantity == "dA_std" else list(range(1, len(med) + 1))
            col = COLORS.get(c["scale"], "k")
            ax.plot(x, med, "-", color=col, lw=1.6, label=c["scale_label"])
            ax.fill_between(x, lo, hi, color=col, alpha=0.2, lw=0)
            ax.plot(x, th, "--", color=col, lw=1.0)
        ax.set_yscale("log")
        ax.set_title(f"{act}, depth {depth}", y=1.0)
        ax.set_xlabel("layer l")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel(title)
    handles, labels = axes[0].get_legend_handles_labels()
    right = 1.0 - 2.0 / (3.9 * n + 2.0)
    fig.subplots_adjust(left=0.9 / (3.9 * n + 2.0), right=right - 0.01, bottom=0.15, top=0.9, wspace=0.3)
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(right + 0.005, 0.5),
               title="solid: measured (median;\nband: range over seeds)\ndashed: mean-field theory", title_fontsize=7)
    return fig


def _factor_plot(v):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    markers = {"sigmoid": "o", "tanh": "s", "relu": "^"}
    for c in v["configs"]:
        ax.errorbar([c["factor_theory"]], [c["factor_measured"]],
                    yerr=[[c["factor_measured"] - c["factor_measured_min"]], [c["factor_measured_max"] - c["factor_measured"]]],
                    fmt=markers[c["activation"]], color=COLORS.get(c["scale"], "k"), ms=4, alpha=0.8)
    lo = min(min(c["factor_theory"], c["factor_measured_min"]) for c in v["configs"]) * 0.7
    hi = max(max(c["factor_theory"], c["factor_measured_max"]) for c in v["configs"]) * 1.4
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("theory √(n·Var W·E[f′(z)²]) (geometric mean)")
    ax.set_ylabel("measured (std dA⁰ / std dA^L)^(1/L)")
    ax.set_title("per-layer gradient factor: o sigmoid, □ tanh, △ relu", fontsize=9, y=1.0)
    ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.13, top=0.92)
    return fig


def _clip_plot(c):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = list(range(1, len(c["layer_norm_before"]) + 1))
    ax.semilogy(x, c["layer_norm_before"], "o-", label="before clipping")
    ax.semilogy(x, c["layer_norm_after"], "s-", label=f"after clip_grad_norm (max_norm {c['setup']['max_norm']:g})")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖dW^l‖")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.16, top=0.95)
    return fig


def _hist_plot(cfg):
    plt = _plt()
    n = len(cfg["layers"])
    fig, axes = plt.subplots(1, n, figsize=(2.3 * n, 2.3), sharey=True)
    edges = cfg["edges"]
    for ax, lay in zip(axes, cfg["layers"]):
        ax.bar(edges[:-1], lay["counts"], width=[edges[i + 1] - edges[i] for i in range(len(edges) - 1)], align="edge",
               color="#1f77b4")
        ax.set_title(f"layer {lay['layer']}", fontsize=9, y=1.0)
        ax.set_xlim(edges[0], edges[-1])
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{cfg['activation']}, weights {cfg['scale_label']}", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.12, top=0.8, wspace=0.15)
    return fig


def _numdiff_plot(nd):
    plt = _plt()
    fns = nd["functions"]
    fig, axes = plt.subplots(1, len(fns), figsize=(5 * len(fns), 3.6), sharey=True)
    for ax, f in zip(axes, fns):
        ax.loglog(nd["h"], f["forward_error"], "o-", ms=3, label="forward difference")
        ax.loglog(nd["h"], f["central_error"], "s-", ms=3, label="central difference")
        ax.axvline(nd["theory"]["forward_h"], color="C0", ls=":", lw=1, label="√ε")
        ax.axvline(nd["theory"]["central_h"], color="C1", ls=":", lw=1, label="ε^(1/3)")
        ax.set_xlabel("step h")
        ax.set_title(f"{f['function']}: median relative error vs the mpmath truth", fontsize=9, y=1.0)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("relative error")
    axes[0].legend(fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.92, wspace=0.08)
    return fig


# --------------------------------------------------------------------------- plots of the remedies and training dynamics
OPT_COLORS = {"sgd": "#d62728", "momentum": "#1f77b4", "adagrad": "#2ca02c", "adam": "#ff7f0e"}


def _optimizers_plot(o):
    import numpy as np

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    x, y = np.meshgrid(np.linspace(-10, 10, 201), np.linspace(-5, 5, 101))
    ax.contour(x, y, x**2 / 20 + y**2, levels=[0.1, 0.5, 1, 2, 4, 8, 16], colors="#bbbbbb", linewidths=0.8)
    for opt in o["optimizers"]:
        p = np.array(opt["path"])
        ax.plot(p[:, 0], p[:, 1], "o-", ms=2.5, lw=1.1, color=OPT_COLORS[opt["name"]], label=f"{opt['label']} (lr {opt['lr']:g})")
        ax2.semilogy(range(len(opt["loss"])), np.maximum(opt["loss"], 1e-300), "-", color=OPT_COLORS[opt["name"]], label=opt["label"])
    ax.plot([0], [0], "k+", ms=10)
    ax.set_xlim(-10, 10)
    ax.set_ylim(-5, 5)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("paths from (−7, 2) over the contours of x²/20 + y²", fontsize=9, y=1.0)
    ax.legend(fontsize=7, loc="lower right")
    ax2.set_xlabel("step")
    ax2.set_ylabel("f(x, y)")
    ax2.set_title("loss", fontsize=9, y=1.0)
    ax2.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.91, wspace=0.22)
    return fig


def _xor_plot(x):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    per = x["perceptron"]
    axes[0].plot(range(1, len(per["xor"]["mistakes"]) + 1), per["xor"]["mistakes"], "o-", label="XOR")
    axes[0].plot(range(1, len(per["and"]["mistakes"]) + 1), per["and"]["mistakes"], "s-", label="AND")
    axes[0].set_xlabel("pass over the 4 examples")
    axes[0].set_ylabel("mistakes")
    axes[0].set_title("perceptron rule", fontsize=9, y=1.0)
    axes[0].legend(fontsize=7)
    every = x["setup"]["record_every"]
    for m in x["mlp"]:
        ok = m["final_loss"] < x["setup"]["loss_threshold"]
        axes[1].semilogy([i * every for i in range(len(m["curve"]) - 1)] + [x["setup"]["iterations"]], m["curve"],
                         "-", color="#2ca02c" if ok else "#d62728", lw=1)
    axes[1].axhline(x["setup"]["loss_threshold"], color="k", ls=":", lw=1)
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("MSE loss")
    axes[1].set_title("2-2-1 sigmoid MLP on XOR, one line per seed", fontsize=9, y=1.0)
    ns = [r["n"] for r in x["parity"]]
    axes[2].semilogy(ns, [r["deep_units"] for r in x["parity"]], "o-", label="XOR tree, depth 2⌈log₂ n⌉")
    axes[2].semilogy(ns, [r["dnf_units"] for r in x["parity"]], "s-", label="one layer of AND units (DNF)")
    axes[2].semilogy(ns, [r["count_units"] for r in x["parity"]], "^--", label="one layer on the count Σx")
    axes[2].set_xlabel("n (bits)")
    axes[2].set_ylabel("threshold units")
    axes[2].set_title("n-bit parity circuits", fontsize=9, y=1.0)
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.9, wspace=0.28)
    return fig


def _batchnorm_plot(b):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    colors = {1.0: "#d62728", 0.01: "#1f77b4"}
    for ax, act in zip(axes, ("sigmoid", "tanh")):
        for c in b["configs"]:
            if c["activation"] != act:
                continue
            ax.semilogy(range(len(c["dA_std"])), c["dA_std"], "-" if c["batchnorm"] else "--", color=colors.get(c["std"], "k"),
                        label=f"{c['scale_label']}, {'with' if c['batchnorm'] else 'without'} batchnorm")
        ax.set_title(f"{act}, depth {b['setup']['depth']}", fontsize=9, y=1.0)
        ax.set_xlabel("layer l")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("std of dA^l (median over seeds)")
    axes[1].legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.14, top=0.91, wspace=0.08)
    return fig


def _residual_plot(r):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    colors = {"relu": "#ff7f0e", "tanh": "#1f77b4"}
    for act in ("relu", "tanh"):
        for residual in (False, True):
            cs = [c for c in r["configs"] if c["activation"] == act and c["residual"] == residual]
            if not cs:
                continue
            d = [c["depth"] for c in cs]
            name = f"{act} + {cs[0]['init']}, {'residual' if residual else 'plain'}"
            axes[0].loglog(d, [c["ratio_median"] for c in cs], "o-" if residual else "s-", color=colors[act], label=name,
                           alpha=1.0 if residual else 0.6)
            axes[0].loglog(d, [c["theory"] for c in cs], ":", color=colors[act], lw=1)
            if residual:
                axes[1].semilogy(d, [float(sorted(c["identity_share"])[len(c["identity_share"]) // 2]) for c in cs], "o-",
                                 color=colors[act], label=f"{act} + {cs[0]['init']}")
    axes[0].set_xlabel("depth L (blocks)")
    axes[0].set_ylabel("std(dA⁰)/std(dA^L)")
    axes[0].set_title("gradient reaching the input; dotted: mean-field theory", fontsize=9, y=1.0)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("depth L (blocks)")
    axes[1].set_ylabel("‖dA^L‖/‖dA⁰‖")
    axes[1].set_title("share of the input gradient carried by the identity path alone", fontsize=9, y=1.0)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.14, top=0.91, wspace=0.22)
    return fig


def _dead_relu_plot(d):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), gridspec_kw={"width_ratios": [1.3, 1.3, 0.8]})
    widths = d["setup"]["widths"]
    cmap = plt.get_cmap("viridis")
    for i, w in enumerate(widths):
        cs = [c for c in d["configs"] if c["width"] == w]
        col = cmap(i / max(1, len(widths) - 1))
        dep = [c["depth"] for c in cs]
        axes[0].plot(dep, [c["dead_at_x0"] for c in cs], "o", color=col, label=f"width {w}")
        axes[0].plot(dep, [c["theory_dead_at_x"] for c in cs], "-", color=col, lw=1)
        axes[1].plot(dep, [c["dead_on_batch"] for c in cs], "s-", color=col, label=f"width {w}")
        axes[1].plot(dep, [c["dead_units"] for c in cs], ":", color=col)
    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("depth (affine layers)")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3)
    axes[0].set_title("dead at one input: measured (o), 1 − (1 − 2^−N)^H (line)", fontsize=9, y=1.0)
    axes[0].legend(fontsize=7)
    axes[1].set_title("dead on the whole batch (■); dead units (dotted)", fontsize=9, y=1.0)
    st = d["steps"]
    x = list(range(len(st)))
    axes[2].bar([i - 0.2 for i in x], [s["dead_units_before"] for s in st], 0.4, label="at init")
    axes[2].bar([i + 0.2 for i in x], [s["dead_units_after"] for s in st], 0.4, label="after one step")
    axes[2].set_xticks(x)
    axes[2].set_xticklabels([f"lr {s['lr']:g}" for s in st])
    axes[2].set_ylabel("dead-unit fraction")
    axes[2].set_title("one SGD step", fontsize=9, y=1.0)
    axes[2].legend(fontsize=7)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.9, wspace=0.25)
    return fig


def _jacobian_plot(j):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for i, init in enumerate(j["inits"]):
        x = list(range(1, len(init["per_layer"]) + 1))
        col = f"C{i}"
        ax.plot(x, init["per_layer"], "o-", color=col, label=init["label"])
        ax.fill_between(x, init["per_layer_min"], init["per_layer_max"], color=col, alpha=0.2, lw=0)
        ax.axhline(init["published"], color=col, ls=":", lw=1)
    ax.axvspan(j["setup"]["settled_from"] - 0.5, len(j["inits"][0]["per_layer"]) + 0.5, color="#eeeeee", zorder=0)
    ax.set_xlabel("layer l")
    ax.set_ylabel("mean singular value of ∂a^l/∂a^(l−1)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.15, top=0.96)
    return fig


def _bn_scale_plot(b):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    stds = b["setup"]["stds"]
    for cu, col in zip(b["curves"], ("#d62728", "#1f77b4")):
        lab = "with batchnorm" if cu["batchnorm"] else "without batchnorm"
        ax.plot(stds, cu["median"], "o-", color=col, label=lab + " (median)")
        for acc in cu["accuracy"]:
            ax.plot(stds, [a if a is not None else 0.0 for a in acc], ".", color=col, alpha=0.4, ms=4)
            ax.plot([s for s, a in zip(stds, acc) if a is None], [0.0] * sum(a is None for a in acc), "x", color=col, ms=6)
    ax.axhline(b["setup"]["threshold"], color="k", ls=":", lw=1)
    ax.axhline(b["setup"]["chance"], color="#999999", ls="--", lw=1, label="largest class")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("init std of W")
    ax.set_ylabel("final training accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.96)
    return fig


def _overfitting_plot(o):
    plt = _plt()
    fig, axes = plt.subplots(1, len(o["configs"]), figsize=(12, 3.3), sharey=True)
    every = o["setup"]["record_every"]
    for ax, c in zip(axes, o["configs"]):
        x = [i * every for i in range(len(c["train"]))]
        ax.plot(x, c["train"], "-", color="#1f77b4", label="train")
        ax.plot(x, c["test"], "-", color="#ff7f0e", label="test")
        ax.fill_between(x, c["test"], c["train"], color="#cccccc", alpha=0.5, lw=0)
        ax.set_title(f"{c['regulariser']}: final gap {c['final_gap_median']:.2f}", fontsize=9, y=1.0)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("accuracy (median over seeds)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.9, wspace=0.08)
    return fig


#: figure group -> drawer, for the remedies' sections (one figure each, id = the group).
REMEDY_PLOTS = {"optimizers": _optimizers_plot, "xor": _xor_plot, "batchnorm": _batchnorm_plot, "residual": _residual_plot,
                "dead_relu": _dead_relu_plot, "jacobian": _jacobian_plot,
                "bn_init_scale": _bn_scale_plot, "overfitting": _overfitting_plot}


def figure_ids(group: str, exp: dict) -> list[str]:
    """The figure ids of one experiment section."""
    if group in REMEDY_PLOTS:
        return [group]
    if group == "vanishing":
        return ["vanishing_dA", "vanishing_A", "vanishing_dW", "vanishing_factor"]
    if group == "histograms":
        return [f"histogram_{i}" for i in range(len(exp["configs"]))]
    if group in ("clipping", "numdiff"):
        return [group]
    raise ValueError(f"unknown figure group {group!r}; known: {', '.join(FIGURE_GROUPS)}")


def figure_pngs(group: str, exp: dict, ids=None) -> dict[str, str]:
    """Figures of one experiment section (``group``: vanishing, clipping, histograms, numdiff) as base64 PNG
    keyed by figure id (all of them, or ``ids``). A pure function of that section of ``report.json``, so it
    can run in a worker process while the checks run (see :class:`gradspec.reports.build.ExperimentRunner`)."""
    ids = figure_ids(group, exp) if ids is None else list(ids)
    out = {}
    for fid in ids:
        if group == "vanishing":
            deepest = max(exp["setup"]["depths"])
            acts = exp["setup"]["activations"]
            fig = {"vanishing_dA": lambda: _vanishing_plot(exp, "dA_std", deepest, acts, "std of dA^l"),
                   "vanishing_A": lambda: _vanishing_plot(exp, "a_std", deepest, acts, "std of A^l"),
                   "vanishing_dW": lambda: _vanishing_plot(exp, "dW_std", deepest, ["tanh"] if "tanh" in acts else acts[:1],
                                                           "std of dW^l"),
                   "vanishing_factor": lambda: _factor_plot(exp)}[fid]()
        elif group in REMEDY_PLOTS:
            fig = REMEDY_PLOTS[group](exp)
        elif group == "histograms":
            fig = _hist_plot(exp["configs"][int(fid.rsplit("_", 1)[1])])
        elif group == "clipping":
            fig = _clip_plot(exp)
        else:
            fig = _numdiff_plot(exp)
        out[fid] = _png(fig)
    return out


FIGURE_GROUPS = ("vanishing", "clipping", "histograms", "numdiff") + tuple(REMEDY_PLOTS)


# --------------------------------------------------------------------------- sections
CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222;line-height:1.4;overflow-wrap:anywhere}
h1{margin-bottom:0.2em} h2{border-bottom:2px solid #ddd;padding-bottom:0.2em;margin-top:2em} h3{margin-top:1.4em}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.88em} th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num,span.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:0.85em;font-weight:600}
.s-pass{background:#d4f4d2;color:#145a14}.s-fail,.s-error{background:#fbd4d4;color:#8a1010}.s-partial{background:#e2efd2;color:#3d5a14}
.s-not_implemented,.s-not_applicable,.s-not_run,.s-not_selected{background:#eee;color:#555}
.s-not_available{background:#fff0c2;color:#6b5200}.s-available{background:#d4f4d2;color:#145a14}
pre{background:#f7f7f7;border:1px solid #ddd;padding:6px;overflow-x:auto;font-size:0.82em;max-height:30em}
details{margin:0.2em 0} summary{cursor:pointer}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:0.88em;color:#444}
.note{color:#555;font-size:0.9em} .claim-ok{color:#145a14} .claim-bad{color:#8a1010}
math.eq{font-size:1.15em;margin:0.3em 0}
.matrix td{white-space:nowrap} .matrix tr.details-row td{white-space:normal;max-width:1100px} .summary th{width:14em}
.details-row pre{max-width:1080px;white-space:pre}
table{max-width:100%} th{overflow-wrap:normal} .badge{overflow-wrap:normal;white-space:nowrap} td code{white-space:nowrap} math.fm{font-size:1.05em}
table.dims tr.group th{background:#e8eef7;text-align:left;font-weight:600}
"""


def _summary(r) -> str:
    s = r["summary"]
    impl = s["implementation"]
    libs = ", ".join(f"{esc(name)} {k(f'summary/libraries/{jp(name)}', v)}" for name, v in s["libraries"].items())
    v = s["verdicts"]
    verdicts = " · ".join(f"{badge(st)} {k(f'summary/verdicts/{st}', v[st])}"
                          for st in ("pass", "fail", "error", "partial", "not_implemented", "not_applicable") if st in v)
    oracles = "<br>".join(
        f"{esc(o['title'])} (<code>{k(f'oracles/{i}/name', o['name'])}</code>): {badge(o['status'], f'oracles/{i}/status')}"
        + (f' <span class="note">{esc(o["reason"])}</span>' if o["reason"] else "")
        for i, o in enumerate(r["oracles"]))
    claims = s["claims"]
    rows = [
        ("implementation", f"{k('summary/implementation/name', impl['name'])}"
                           + (f" version {k('summary/implementation/version', impl['version'])}" if impl.get("version") else "")
                           + (f'<br><span class="note">{k("summary/implementation/file", impl["file"])}</span>' if impl.get("file") else "")),
        *([("adapter kit", f"{k('summary/implementation/kit/style', impl['kit']['style'])} style: "
                           + "; ".join(f"{html.escape(op)} ← {html.escape(str(info['bound']))}"
                                       for op, info in impl["kit"]["ops"].items())
                           + (' <span class="note">(not checked: '
                              + ", ".join(html.escape(o) for o in impl["kit"]["skipped"]) + ")</span>"
                              if impl["kit"]["skipped"] else ""))]
          if impl.get("kit") else []),
        ("gradspec", k("summary/gradspec_version", s["gradspec_version"])),
        ("libraries", libs),
        ("platform", k("summary/platform", s["platform"])),
        ("seed", k("summary/seed", s["seed"])),
        ("depth", k("summary/depth", s["depth"])),
        ("date (UTC)", k("summary/date", s["date"])),
        ("duration", f"{k('summary/duration_s', s['duration_s'], '.1f')} s (checks {k('summary/durations_s/check', s['durations_s']['check'], '.1f')} s"
                     + (f", then experiments {k('summary/durations_s/experiments', s['durations_s']['experiments'], '.1f')} s more (they run in parallel with the checks)"
                        if "experiments" in s["durations_s"] else "") + "; rendering not included)"),
        ("reproduce", f"<code>{k('summary/command', s['command'])}</code>"),
        ("verdicts (ops)", f"{verdicts} of {k('summary/verdicts/total', v['total'])}"
                           + (' <span class="note">(partial: the forward checked, the backward not provided)</span>'
                              if v.get("partial") else "")),
        *([("declared limits", f"checked within declared limits: {k('summary/limits/text', s['limits']['text'])} "
                               f"<span class=\"note\">({k('summary/limits/source', s['limits']['source'])})</span>")]
          if s.get("limits") else []),
        ("experiment claims", f"{k('summary/claims/agree', claims['agree'])} agree with the literature, "
                              f"{k('summary/claims/disagree', claims['disagree'])} disagree"),
        ("oracles", oracles),
    ]
    body = "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows)
    return f'<section id="summary"><h2>Summary</h2><table class="summary">{body}</table></section>'


def _finding_html(f, path, first=True) -> str:
    parts = [f'<div class="finding"><b>{k(path + "/kind", f["kind"])}</b>: {k(path + "/message", f["message"])}']
    if f.get("diagnosis"):
        parts.append(f'<div class="diagnosis">probable cause: <b>{k(path + "/diagnosis", f["diagnosis"])}</b></div>')
    elif first:
        parts.append('<div class="diagnosis note">diagnosis: none available for this finding</div>')
    if f.get("reproducer"):
        parts.append(f'<div>reproducer:</div><pre class="reproducer" data-k="{esc(path + "/reproducer")}">{esc(f["reproducer"])}</pre>')
    parts.append("</div>")
    return "".join(parts)


def _check_html(c, path) -> str:
    head = (f"{badge(c['status'], path + '/status')} <code>{k(path + '/check', c['check'])}</code> "
            f"examples {k(path + '/examples', c['examples'])}, worst {k(path + '/worst_error', c['worst_error'], '.3g')}× tol — "
            f"{k(path + '/message', c['message'])}")
    finds = "".join(_finding_html(f, f"{path}/findings/{i}", i == 0) for i, f in enumerate(c["findings"]))
    more = f'<div class="note">… and {k(path + "/more_findings", c["more_findings"])} more findings</div>' if c["more_findings"] else ""
    return f"<li>{head}{finds}{more}</li>"


def _matrix(r) -> str:
    onames = [o["name"] for o in r["oracles"]]
    ostatus = {o["name"]: o["status"] for o in r["oracles"]}
    headers = ["op", "kind", "verdict"] + [f"{esc(n)}" for n in onames]
    rows_html, other_checks = [], []
    for i, row_ in enumerate(r["matrix"]):
        p = f"matrix/{i}"
        tds = [f'<td><code>{k(p + "/op", row_["op"])}</code></td>', f'<td>{k(p + "/kind", row_["kind"])}</td>',
               f"<td>{badge(row_['status'], p + '/status')}"
               + (f'<br><span class="note">within {k(p + "/limits_text", row_["limits_text"])}</span>'
                  if row_.get("limits_text") else "") + "</td>"]
        for n in onames:
            cell = row_["cells"].get(n)
            if cell is None:
                tds.append(f'<td>{badge(ostatus[n])}</td>')
                continue
            cp = f"{p}/cells/{n}"
            w = (f" worst {k(cp + '/worst_error', cell['worst_error'], '.3g')}" if cell["worst_error"] is not None else "")
            tds.append(f"<td>{badge(cell['status'], cp + '/status')} n={k(cp + '/examples', cell['examples'])}{w}</td>")
        rows_html.append(f'<tr class="op-row" data-op="{esc(row_["op"])}">{"".join(tds)}</tr>')
        items = [_check_html(c, f"{p}/protocol/{j}") for j, c in enumerate(row_["protocol"])]
        for n in onames:
            cell = row_["cells"].get(n)
            for j, c in enumerate(cell["checks"] if cell else []):
                items.append(_check_html(c, f"{p}/cells/{n}/checks/{j}"))
        if row_["status"] in ("fail", "error"):  # failures get their own collapsed row, right under the op
            rows_html.append(f'<tr class="details-row"><td colspan="{3 + len(onames)}"><details class="failing">'
                             f'<summary>{esc(row_["op"])}: mismatches, diagnoses and reproducers</summary>'
                             f'<ul>{"".join(items)}</ul></details></td></tr>')
        else:
            other_checks.append(f"<li><code>{esc(row_['op'])}</code><ul>{''.join(items) or '<li>no checks</li>'}</ul></li>")
    head = "".join(f"<th>{h}</th>" for h in headers)
    failing = [row_["op"] for row_ in r["matrix"] if row_["status"] in ("fail", "error")]
    lead = (f'<p class="claim-bad">Failing ops: {", ".join("<code>" + esc(o) + "</code>" for o in failing)} '
            "(open the row's details for the mismatches, the diagnosis and a reproducer).</p>" if failing
            else '<p class="claim-ok">No op failed.</p>')
    return (f'<section id="matrix"><h2>Verification matrix</h2>'
            f'<p class="note">Ops × oracles. n = examples tried; worst = the largest error in units of the '
            f"check's tolerance (≤ 1 passes). An oracle that is not available shows its status in every row; nothing "
            f"is filled in for it.</p>{lead}"
            f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(rows_html)}</tbody></table>'
            f'<details><summary>every check of the ops that did not fail</summary><ul>{"".join(other_checks)}</ul></details></section>')


#: Human headers for the fields of the tables other oracles publish (any other field: its name with spaces).
HUMAN_HEADERS = {"statement": "statement", "activation": "activation", "output": "output layer and cost", "depth": "depth",
                 "networks": "networks", "widths": "widths proved", "equations": "equations", "identities_proved": "identities proved",
                 "identities_failed": "identities failed", "holds": "holds", "seconds": "time (s)", "equation": "equation",
                 "layout": "layout", "width": "width", "proved": "proved"}


def _generic_table(items, path) -> str:
    """A table of a list of flat dicts (the symbolic oracle's published tables), every cell from the JSON."""
    if not items:
        return '<p class="note">empty</p>'
    if not all(isinstance(it, dict) for it in items):
        return "<ul>" + "".join(f"<li>{k(f'{path}/{i}', it if isinstance(it, (str, int, float)) else str(it))}</li>"
                                for i, it in enumerate(items)) + "</ul>"
    cols = []
    for it in items:
        for c in it:
            if c not in cols:
                cols.append(c)
    rows = []
    for i, it in enumerate(items):
        cells = []
        for c in cols:
            v = it.get(c)
            if isinstance(v, (dict, list)):
                cells.append(f"<code>{esc(v)}</code>")
            else:
                cells.append(k(f"{path}/{i}/{c}", v))
        rows.append(cells)
    return table([esc(HUMAN_HEADERS.get(c, c.replace("_", " "))) for c in cols], rows)


def _bp(r) -> str:
    eqs = _bp_equations()
    rows = "".join(f"<tr><th>{lab}</th><td>{col}</td><td>{rw}</td><td>{esc(words)}</td></tr>" for lab, col, rw, words in eqs)
    bp = r["bp"]
    if bp["available"]:
        proved = (f'<p>Proved by the symbolic oracle (source: <code>{k("bp/source", bp["source"])}</code>):</p>'
                  + _generic_table(bp["items"], "bp/items"))
    else:
        proved = (f'<p class="claim-bad">What was proved: <b>not run</b> — {k("bp/reason", bp["reason"])}. '
                  "The equations above are stated, not proved, in this report; the reference's MLP is checked "
                  "numerically (op <code>mlp</code> in the matrix).</p>")
    return (f'<section id="bp"><h2>Backpropagation: BP1–BP4</h2>'
            f'<p class="note">Column layout (Nielsen, Ng): one example per column, W<sup>l</sup> is (n<sub>l</sub>, n<sub>l−1</sub>), '
            f"the 1/m of the mean cost sits in BP3/BP4. Row layout (the protocol): one example per row, Δ is (N, n<sub>l</sub>), "
            f"W<sup>l</sup> is (n<sub>l−1</sub>, n<sub>l</sub>), the 1/N sits in ∇C and so in every Δ.</p>"
            f'<table class="bp"><thead><tr><th></th><th>column layout</th><th>row layout</th><th></th></tr></thead>'
            f"<tbody>{rows}</tbody></table>{proved}</section>")


# --------------------------------------------------------------------------- text formulas as MathML


_TOKEN = re.compile(r"d[A-Zb](?![a-z])|[A-Za-z]{2,}|[A-Za-zα-ωΑ-Ω∇](?![a-z]{2})|\d+(?:\.\d+)?|[_^{}ᵀ'′=⊙/,()\[\]+\-−·∂∑⊤√²←]|𝟏|\s+|.")
_COMMENT = re.compile(r"\s*[(\[][^()\[\]]*(?:\([^()]*\)[^()\[\]]*)*[a-z]{3}[^\[\]]*[)\]]\s*$")


def _math_nodes(tokens: list[str], i: int = 0, stop: str | None = None) -> tuple[list[str], int]:
    nodes: list[str] = []
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if t == stop:
            return nodes, i
        if t.isspace():
            continue
        if t in ("_", "^"):
            if i < len(tokens) and tokens[i] == "{":
                arg, i = _math_nodes(tokens, i + 1, "}")
            else:
                arg, i = _math_nodes(tokens[i:i + 1])[0], i + 1
            base = nodes.pop() if nodes else mi("")
            nodes.append((sub if t == "_" else sup)(base, row(*arg)))
        elif t == "ᵀ":
            nodes.append(sup(nodes.pop() if nodes else mi(""), mi("⊤")))
        elif t in ("'", "′"):
            nodes.append(sup(nodes.pop() if nodes else mi(""), mo("′")))
        elif t == "²":
            nodes.append(sup(nodes.pop() if nodes else mi(""), mn("2")))
        elif t[0].isdigit():
            nodes.append(mn(t))
        elif t[0].isalpha() or t in ("𝟏", "∇"):
            nodes.append(mi(t))
        else:
            nodes.append(mo("−" if t == "-" else t))
    return nodes, i


def math_text(text: str) -> str:
    """A formula written in the report's plain-text notation (``dZ^{l+1} W^{l+1}ᵀ``, ``(n_{l-1}, n_l)``, ``σ'(Z)``) as
    inline MathML; a trailing remark in words (``(sum over the batch)``) stays text beside it."""
    text = str(text)
    m = _COMMENT.search(text)
    remark = ""
    if m and m.start() > 0:
        text, remark = text[:m.start()], text[m.start():].strip()
    nodes, _ = _math_nodes(_TOKEN.findall(text))
    out = f'<math class="fm" data-formula="{esc(text)}">{row(*nodes)}</math>'
    return out + (f' <span class="note">{esc(remark)}</span>' if remark else "")


def _shape(path: str, shape) -> str:
    if shape is None:
        return "—"
    inner = ", ".join(k(f"{path}/{i}", d) for i, d in enumerate(shape))
    return f"<code>({inner}{',' if len(shape) == 1 else ''})</code>"


def _dimensions(r) -> str:
    d = r["dimensions"]
    t = d["table"]
    sym = d["symbolic"]
    net = d["measured"]["network"]
    body = []
    for layout in ("row", "column"):
        lay = t["layouts"][layout]
        body.append(f'<tr class="group"><th colspan="8">{esc(lay["title"][0].upper() + lay["title"][1:])}, '
                    f'{math_text(lay["formula"])}; the 1/m of the mean cost '
                    f'sits {k(f"dimensions/table/layouts/{layout}/one_over_m", lay["one_over_m"])}</th></tr>')
        for i, row_ in enumerate(t["rows"]):
            if row_["layout"] != layout:
                continue
            p = f"dimensions/table/rows/{i}"
            v = row_["verdict"]
            if v == "agrees":
                verdict = f'<span class="badge s-pass" data-k="{p}/verdict">agrees</span>'
            elif v == "mismatch":
                verdict = f'<span class="badge s-fail" data-k="{p}/verdict">mismatch</span> MISMATCH: ' + "; ".join(
                    k(f"{p}/problems/{j}", pr) for j, pr in enumerate(row_["problems"]))
            else:
                verdict = f'<span class="note" data-k="{p}/verdict">{esc(v)}</span>'
            extra = []
            if row_["formula_proved"] is not None:
                extra.append("formula proved" if row_["formula_proved"] else "<b>formula not proved</b>")
            if row_["value_error"] is not None:
                extra.append(f"value error {k(p + '/value_error', row_['value_error'], '.2g')}")
            derived = ("—" if row_["derived_single"] is None and row_["derived_batch"] is None else
                       f"{_shape(p + '/derived_single', row_['derived_single'])} / {_shape(p + '/derived_batch', row_['derived_batch'])}")
            same = "—" if row_["same_as_param"] is None else k(p + "/same_as_param", row_["same_as_param"])
            cells = [f"<b>{math_text(row_['quantity'])}</b>", math_text(row_["formula"]), math_text(row_["rule"]),
                     _shape(p + "/shape_single", row_["shape_single"]), _shape(p + "/shape_batch", row_["shape_batch"]), derived, same,
                     verdict + (f'<br><span class="note">{", ".join(extra)}</span>' if extra else "")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    m = t["rows"][0]["batch_m"]
    head = "".join(f"<th>{h}</th>" for h in (
        "quantity", "formula", "shape rule", "reference shape, one example", f"reference shape, batch of {esc(m)}",
        "derived by SymPy (one example / batch)", "same shape as the parameter", "symbolic check"))
    note = (f'<p class="note">Layer {k("dimensions/measured/network/layer", net["layer"])} of a network of sizes '
            f"<code>{esc(net['sizes'])}</code>: n<sub>l−1</sub> = 3, n<sub>l</sub> = 5. The shapes are produced by the reference "
            "(<code>mlp_backprop</code>); dZ is δ, dA the gradient reaching A<sup>l</sup>. Gradients have the shape of their "
            "parameter in both layouts. "
            + (f'Derived and checked by the symbolic oracle (<code>{k("dimensions/symbolic/source", sym["source"])}</code>).'
               if sym["available"] else
               f'<span class="claim-bad">Symbolic derivation not available: {k("dimensions/symbolic/reason", sym["reason"])}; '
               "the shapes are the reference's only.</span>") + "</p>")
    return (f'<section id="dimensions"><h2>Dimension rules</h2>{note}'
            f'<table class="dims"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></section>')


def _claims_table(claims, path) -> str:
    rows = []
    for i, c in enumerate(claims):
        p = f"{path}/{i}"
        th = c["theory"]
        rows.append([k(p + "/source", c["source"]), k(p + "/statement", c["statement"]),
                     k(p + "/theory", th, ".4g"), k(p + "/measured_text", c["measured_text"]), agree_badge(c["agrees"], p + "/agrees")])
    return table(["published figure / source", "statement", "theory", "measured", "verdict"], rows, "claims")


def _per_layer_tables(v) -> str:
    out = []
    for ci, c in enumerate(v["configs"]):
        p = f"experiments/vanishing/configs/{ci}"
        rows = []
        L = c["depth"]
        for l in range(L + 1):
            def q(name, idx, kind="median"):
                return k(f"{p}/measured/{name}/{kind}/{idx}", c["measured"][name][kind][idx], ".3g")
            if l == 0:
                rows.append(["0 (input)", "—", "—", q("dA_std", 0), "—", "—"])
                continue
            rows.append([str(l), q("a_mean", l - 1), q("a_std", l - 1), q("dA_std", l), q("dZ_std", l - 1), q("dW_std", l - 1)])
        out.append(f"<details><summary>{esc(c['activation'])} × {esc(c['scale_label'])}, depth {L}</summary>"
                   + table(["layer", "mean A", "std A", "std dA", "std dZ", "std dW"], rows) + "</details>")
    return "".join(out)


def _vanishing(r, figs) -> str:
    v = r["experiments"]["vanishing"]
    st = v["setup"]
    deepest = max(st["depths"])
    p = "experiments/vanishing"
    setup = (f'<p>Width {k(p + "/setup/width", st["width"])}, batch {k(p + "/setup/batch", st["batch"])}, '
             f'{k(p + "/setup/input", st["input"])}, b = {k(p + "/setup/bias", st["bias"])}, upstream {k(p + "/setup/upstream", st["upstream"])}, '
             f'{k(p + "/setup/seeds", st["seeds"])} seeds (median and range), depths {esc(st["depths"])}. '
             "Theory: the mean-field recursion of every per-layer variance (docstring of <code>experiments.mean_field</code>), "
             f"whose per-layer gradient factor is {math_text('√(n·Var W·E[f′(z)²])')}. Glorot normal equals LeCun on these square layers "
             "(same variance, same draws).</p>")
    figs = [
        figure(figs["vanishing_dA"], "std of dA per layer",
               f"Std of the back-propagated gradient dA<sup>l</sup> at each layer of a depth-{deepest} network (log axis), "
               "measured (median, range over seeds) beside the mean-field theory. Reproduces the analysis of Glorot &amp; Bengio 2010 §4.2.1 "
               "(back-propagated gradients shrink by √(n·Var W·E[f′²]) per layer) and He et al. 2015 §2.2 (relu: (1/√2)<sup>L</sup> under LeCun/Xavier scaling, flat under He)."),
        figure(figs["vanishing_A"], "std of activations per layer",
               f"Std of the activations A<sup>l</sup> (forward pass), depth {deepest}: the forward counterpart (Glorot &amp; Bengio 2010 §4.2.1; He et al. 2015 §2.2, Eq. 10)."),
        figure(figs["vanishing_dW"], "std of dW per layer",
               f"Std of the weight gradient dW<sup>l</sup>, tanh, depth {deepest}: nearly flat across layers although dA is not — "
               "Glorot &amp; Bengio 2010 Eq. 14 (the weight-gradient variance does not depend on the layer)."),
        figure(figs["vanishing_factor"], "measured vs theory per-layer factor",
               "Measured per-layer gradient factor against the theory, every configuration (bars: range over seeds); the line is equality."),
    ]
    rows = []
    for ci, c in enumerate(v["configs"]):
        cp = f"{p}/configs/{ci}"
        rows.append([k(cp + "/activation", c["activation"]), k(cp + "/scale_label", c["scale_label"]), k(cp + "/depth", c["depth"]),
                     k(cp + "/nvar_measured", c["nvar_measured"], ".4g"), k(cp + "/factor_measured", c["factor_measured"], ".4g"),
                     f"{k(cp + '/factor_measured_min', c['factor_measured_min'], '.4g')}–{k(cp + '/factor_measured_max', c['factor_measured_max'], '.4g')}",
                     k(cp + "/factor_theory", c["factor_theory"], ".4g"), agree_badge(c["factor_agrees"], cp + "/factor_agrees")])
    factor_table = table(["activation", "weights", "depth", "n·Var W (measured)", "factor measured (median)", "range", "factor theory",
                          f"within {fmt(st['factor_rtol'] * 100, '.0f')}%"], rows)
    return (f'<section id="vanishing"><h2>Gradient vanishing and exploding at initialisation</h2>{setup}'
            f"<h3>Published figures and whether the measurement agrees</h3>{_claims_table(v['claims'], p + '/claims')}"
            f"{''.join(figs)}<h3>Measured per-layer factor vs theory</h3>{factor_table}"
            f"<h3>Per-layer statistics</h3>{_per_layer_tables(v)}</section>")


def _clipping(r, figs) -> str:
    c = r["experiments"]["clipping"]
    p = "experiments/clipping"
    st = c["setup"]
    rows = [[str(l + 1), k(f"{p}/layer_norm_before/{l}", c["layer_norm_before"][l], ".4g"),
             k(f"{p}/layer_norm_after/{l}", c["layer_norm_after"][l], ".4g")] for l in range(len(c["layer_norm_before"]))]
    return (f'<section id="clipping"><h2>Gradient clipping on an exploding configuration</h2>'
            f'<p>{k(p + "/setup/activation", st["activation"])} × {k(p + "/setup/scale_label", st["scale_label"])}, depth '
            f'{k(p + "/setup/depth", st["depth"])}: global gradient norm {k(p + "/global_norm_before", c["global_norm_before"], ".4g")} '
            f'→ {k(p + "/global_norm_after", c["global_norm_after"], ".6g")} after <code>clip_grad_norm</code> (reference) with max_norm '
            f'{k(p + "/setup/max_norm", st["max_norm"])}; cosine with the unclipped gradient {k(p + "/cosine_norm_clip", c["cosine_norm_clip"], ".15g")}; '
            f'<code>clip_grad_value</code> at {k(p + "/setup/clip_value", st["clip_value"], ".3g")}: cosine {k(p + "/cosine_value_clip", c["cosine_value_clip"], ".6g")}. '
            f'Layer imbalance (max/min layer norm) {k(p + "/imbalance_before", c["imbalance_before"], ".4g")} → {k(p + "/imbalance_after", c["imbalance_after"], ".4g")}.</p>'
            f"{_claims_table(c['claims'], p + '/claims')}"
            + figure(figs["clipping"], "layer gradient norms before and after clipping",
                     "Per-layer ‖dW‖ before and after global-norm clipping: the update is bounded, the shape across layers is unchanged "
                     "(Pascanu, Mikolov &amp; Bengio 2013).")
            + table(["layer", "‖dW‖ before", "‖dW‖ after"], rows) + "</section>")


def _init(r) -> str:
    e = r["experiments"]["init"]
    p = "experiments/init"
    rows = []
    for i, row_ in enumerate(e["rows"]):
        rp = f"{p}/rows/{i}"
        if row_["status"] != "measured":
            rows.append([k(rp + "/scheme", row_["scheme"]), k(rp + "/shape_kind", row_["shape_kind"]), f"<code>{esc(tuple(row_['shape']))}</code>",
                         "—", "—", "—", "—", "—", f"{badge(row_['status'], rp + '/status')} {k(rp + '/message', row_.get('message', ''))}"])
            continue
        others = ", ".join(f"{esc(o)} ({'excluded' if d['excluded'] else 'NOT excluded'})" for o, d in row_["other_schemes"].items())
        rows.append([
            k(rp + "/scheme", row_["scheme"]), k(rp + "/shape_kind", row_["shape_kind"]), f"<code>{esc(tuple(row_['shape']))}</code>",
            f"{k(rp + '/fan_in', row_['fan_in'])} / {k(rp + '/fan_out', row_['fan_out'])}",
            f"{k(rp + '/mean', row_['mean'], '.3g')} [{k(rp + '/mean_ci/0', row_['mean_ci'][0], '.3g')}, {k(rp + '/mean_ci/1', row_['mean_ci'][1], '.3g')}]",
            f"{k(rp + '/var', row_['var'], '.5g')} [{k(rp + '/var_ci/0', row_['var_ci'][0], '.5g')}, {k(rp + '/var_ci/1', row_['var_ci'][1], '.5g')}]"
            f" vs {k(rp + '/target_var', row_['target_var'], '.5g')}",
            f"{k(rp + '/family', row_['family'])}: D = {k(rp + '/ks_d', row_['ks_d'], '.3g')}, p = {k(rp + '/ks_p', row_['ks_p'], '.3g')}; "
            f"as {k(rp + '/other_family', row_['other_family'])}: p = {k(rp + '/ks_p_other_family', row_['ks_p_other_family'], '.3g')}",
            f'<span class="note">{others}</span>', agree_badge(row_["agrees"], rp + "/agrees")])
    return (f'<section id="init"><h2>Initialisation statistics</h2>'
            f'<p>Drawn by <code>{k(p + "/setup/drawn_by", e["setup"]["drawn_by"])}</code>; 95% confidence intervals; '
            f'agreement: {k(p + "/setup/agreement", e["setup"]["agreement"])}. The last column lists the other schemes whose '
            "target variance the interval excludes (what tells Glorot, LeCun and He apart when fan_in ≠ fan_out).</p>"
            + _claims_table(e["claims"], p + "/claims")
            + table(["scheme", "kind", "shape", "fan-in / fan-out", "mean [95% CI]", "variance [95% CI] vs target", "KS test",
                     "other schemes' variances", "verdict"], rows)
            + "</section>")


def _histograms(r, figs) -> str:
    h = r["experiments"]["histograms"]
    p = "experiments/histograms"
    parts = []
    for ci, cfg in enumerate(h["configs"]):
        cp = f"{p}/configs/{ci}"
        rows = []
        for li, lay in enumerate(cfg["layers"]):
            lp = f"{cp}/layers/{li}"
            rows.append([k(lp + "/layer", lay["layer"]), k(lp + "/mean", lay["mean"], ".4g"), k(lp + "/std", lay["std"], ".4g"),
                         k(lp + "/saturated", lay["saturated"], ".3g"), k(lp + "/near_half", lay["near_half"], ".4g"),
                         k(lp + "/zero", lay["zero"], ".3g")])
        parts.append(figure(figs[f"histogram_{ci}"], f"activation histograms {cfg['activation']} {cfg['scale']}",
                            f"{esc(cfg['claim']['statement'])} — {esc(cfg['claim']['source'])}")
                     + table(["layer", "mean", "std", "fraction saturated (<0.01 or >0.99)", "fraction within 0.1 of 0.5", "fraction zero"], rows))
    st = h["setup"]
    return (f'<section id="histograms"><h2>Activation histograms (the classic experiment)</h2>'
            f'<p>{k(p + "/setup/layers", st["layers"])} layers of {k(p + "/setup/width", st["width"])} units, batch '
            f'{k(p + "/setup/batch", st["batch"])}, {k(p + "/setup/input", st["input"])}.</p>'
            + _claims_table(h["claims"], p + "/claims") + "".join(parts) + "</section>")


def _numdiff(r, figs) -> str:
    nd = r["experiments"]["numdiff"]
    p = "experiments/numdiff"
    rows = []
    for i, f in enumerate(nd["functions"]):
        fp = f"{p}/functions/{i}"
        rows.append([k(fp + "/function", f["function"]), k(fp + "/forward_best_h", f["forward_best_h"], ".2g"),
                     k(fp + "/forward_best_error", f["forward_best_error"], ".2g"), k(fp + "/central_best_h", f["central_best_h"], ".2g"),
                     k(fp + "/central_best_error", f["central_best_error"], ".2g")])
    th = nd["theory"]
    return (f'<section id="numdiff"><h2>Numerical differentiation: why a high-precision truth</h2>'
            f'<p>Relative error of float64 forward and central differences against <code>mpmath.diff</code> at '
            f'{k(p + "/setup/dps", nd["setup"]["dps"])} digits, median over {k(p + "/setup/points", nd["setup"]["points"])} points. '
            f'Theory: forward optimum h ≈ √ε = {k(p + "/theory/forward_h", th["forward_h"], ".2g")} with error ≈ {k(p + "/theory/forward_error", th["forward_error"], ".2g")}; '
            f'central optimum h ≈ ε<sup>1/3</sup> = {k(p + "/theory/central_h", th["central_h"], ".2g")} with error ≈ {k(p + "/theory/central_error", th["central_error"], ".2g")}. '
            "Even at its best a float64 difference carries ~1e-10 relative error; the 50-digit truth carries none that matters, "
            "so the tolerance of the mpmath oracle is the implementation's own rounding error only.</p>"
            + _claims_table(nd["claims"], p + "/claims")
            + figure(figs["numdiff"], "error of finite differences vs step",
                     "The V curve: truncation error to the right, rounding error to the left (Nocedal &amp; Wright 2006 §8.1; Numerical Recipes §5.7).")
            + table(["function", "forward best h", "forward best error", "central best h", "central best error"], rows) + "</section>")


# --------------------------------------------------------------------------- sections of the remedies and training dynamics
def _range(path: str, values, spec=".3g") -> str:
    """median [min–max] of a list in the JSON, each element tagged."""
    import statistics

    lo, hi = min(range(len(values)), key=values.__getitem__), max(range(len(values)), key=values.__getitem__)
    return (f"{esc(fmt(float(statistics.median(values)), spec))} "
            f"[{k(f'{path}/{lo}', values[lo], spec)}–{k(f'{path}/{hi}', values[hi], spec)}]")


def _optimizers(r, figs) -> str:
    o = r["experiments"]["optimizers"]
    p = "experiments/optimizers"
    st = o["setup"]
    rows = []
    for i, opt in enumerate(o["optimizers"]):
        op = f"{p}/optimizers/{i}"
        rows.append([k(op + "/label", opt["label"]), k(op + "/lr", opt["lr"]),
                     k(op + "/final_distance/0", opt["final_distance"][0], ".3g"), k(op + "/final_loss/0", opt["final_loss"][0], ".3g"),
                     _range(op + "/final_distance", opt["final_distance"]),
                     ", ".join(k(f"{op}/y_sign_changes/{j}", v) for j, v in enumerate(opt["y_sign_changes"])),
                     k(op + "/max_step/0", opt["max_step"][0], ".3g")])
    return (f'<section id="optimizers"><h2>Optimizer paths on {math_text("x²/20 + y²")}</h2>'
            f'<p>The reference optimizers (<code>sgd_update</code>, <code>momentum_update</code> with μ = {k(p + "/setup/momentum", st["momentum"])}, '
            f'<code>adagrad_update</code>, <code>adam_update</code>) for {k(p + "/setup/steps", st["steps"])} steps on '
            f'{k(p + "/setup/function", st["function"])} from ({k(p + "/setup/start/0", st["start"][0])}, {k(p + "/setup/start/1", st["start"][1])}) '
            f'({k(p + "/setup/seeds", st["seeds"])} starts in all, one per seed: the others jittered by N(0, '
            f'{k(p + "/setup/jitter", st["jitter"])}²) per coordinate), at the fish book\'s learning rates.</p>'
            + _claims_table(o["claims"], p + "/claims")
            + figure(figs["optimizers"], "optimizer paths and loss",
                     "The four paths over the contours (left) and f along them (right): SGD zigzags across the narrow y direction, "
                     "Momentum and Adam roll like a ball, AdaGrad damps y at once (Saito 2016, Fig. 6-8).")
            + table(["optimizer", "learning rate", "final distance to the minimum (classic start)", "final loss (classic start)",
                     "final distance, median [range] over the starts", "y sign changes per start", "largest coordinate step"], rows)
            + "</section>")


def _xor(r, figs) -> str:
    x = r["experiments"]["xor"]
    p = "experiments/xor"
    st = x["setup"]
    per = x["perceptron"]
    prow = []
    for task in ("xor", "and"):
        d = per[task]
        cyc = d["cycle"]
        prow.append([task.upper(), ", ".join(k(f"{p}/perceptron/{task}/mistakes/{j}", m) for j, m in enumerate(d["mistakes"])),
                     k(f"{p}/perceptron/{task}/converged_epoch", d["converged_epoch"]),
                     (f"from pass {k(f'{p}/perceptron/{task}/cycle/first_epoch', cyc['first_epoch'])}, period "
                      f"{k(f'{p}/perceptron/{task}/cycle/period', cyc['period'])}") if cyc else "—",
                     "<code>" + esc(x["separability"][task]["combination"]) + "</code>",
                     k(f"{p}/separability/{task}/grid_separating", x["separability"][task]["grid_separating"])])
    mrow = [[str(i), k(f"{p}/mlp/{i}/final_loss", m["final_loss"], ".3g"), k(f"{p}/mlp/{i}/correct", m["correct"]),
             ", ".join(k(f"{p}/mlp/{i}/outputs/{j}", v, ".3f") for j, v in enumerate(m["outputs"]))] for i, m in enumerate(x["mlp"])]
    qrow = [[k(f"{p}/parity/{i}/n", q["n"]), k(f"{p}/parity/{i}/inputs", q["inputs"]),
             k(f"{p}/parity/{i}/deep_units", q["deep_units"]), k(f"{p}/parity/{i}/deep_depth", q["deep_depth"]),
             k(f"{p}/parity/{i}/deep_errors", q["deep_errors"]), k(f"{p}/parity/{i}/dnf_units", q["dnf_units"]),
             k(f"{p}/parity/{i}/dnf_errors", q["dnf_errors"]), k(f"{p}/parity/{i}/count_units", q["count_units"]),
             k(f"{p}/parity/{i}/count_errors", q["count_errors"]), k(f"{p}/parity/{i}/odd_min_hamming", q["odd_min_hamming"])]
            for i, q in enumerate(x["parity"])]
    return (f'<section id="xor"><h2>XOR, the perceptron and depth</h2>'
            f'<p><code>perceptron_update</code> (learning rate {k(p + "/setup/perceptron_lr", st["perceptron_lr"])}) for '
            f'{k(p + "/setup/epochs", st["epochs"])} passes over the four inputs from w = 0, b = 0; a '
            f'{k(p + "/setup/mlp", st["mlp"])} trained with <code>mlp_loss_and_grads</code> at learning rate '
            f'{k(p + "/setup/mlp_lr", st["mlp_lr"])} for {k(p + "/setup/iterations", st["iterations"])} iterations, '
            f'{k(p + "/setup/seeds", st["seeds"])} seeds; n-bit parity circuits of threshold units '
            "(<code>affine_forward</code> then <code>step_forward</code>) evaluated on all 2<sup>n</sup> inputs.</p>"
            + _claims_table(x["claims"], p + "/claims")
            + figure(figs["xor"], "perceptron mistakes, MLP loss curves, parity circuit sizes",
                     "Left: the perceptron rule keeps making mistakes on XOR and converges on AND. Middle: the MLP's loss per seed "
                     "(green: below the threshold, dotted; red: stuck). Right: units needed for n-bit parity.")
            + "<h3>Perceptron rule and linear separability</h3>"
            + table(["task", "mistakes per pass", "pass with no mistake", "repeated state", "Σ s<sub>i</sub> [x<sub>i</sub>, 1]",
                     "separating lines on the grid"], prow)
            + "<h3>2-2-1 MLP on XOR</h3><details><summary>every seed: final loss and outputs</summary>"
            + table(["seed", "final loss", "outputs on the right side of 0.5", "outputs for (0,0), (0,1), (1,0), (1,1)"], mrow)
            + "</details>"
            + "<h3>n-bit parity</h3>"
            + table(["n", "inputs", "XOR tree: units", "depth", "errors", "DNF: units", "errors", "count layer: units", "errors",
                     "min. distance between odd inputs"], qrow)
            + '<p class="note">The DNF needs one AND unit per odd-parity input because no two of them differ in a single bit '
            "(a product term covering both would have to ignore that bit). Threshold units on the sum Σx need only n + 1 "
            "units in one hidden layer: the exponential size is a property of AND/OR circuits.</p></section>")


def _batchnorm(r, figs) -> str:
    b = r["experiments"]["batchnorm"]
    p = "experiments/batchnorm"
    st = b["setup"]
    rows = []
    for i, c in enumerate(b["configs"]):
        cp = f"{p}/configs/{i}"
        rows.append([k(cp + "/activation", c["activation"]), k(cp + "/scale_label", c["scale_label"]), k(cp + "/batchnorm", c["batchnorm"]),
                     k(cp + "/factor_median", c["factor_median"], ".4g"), _range(cp + "/factor", c["factor"], ".4g"),
                     k(f"{cp}/dA_std/0", c["dA_std"][0], ".3g")])
    th = st["theory_factor"]
    return (f'<section id="batchnorm"><h2>Batchnorm as a remedy</h2>'
            f'<p>{k(p + "/setup/layer", st["layer"])}; depth {k(p + "/setup/depth", st["depth"])}, width {k(p + "/setup/width", st["width"])}, '
            f'batch {k(p + "/setup/batch", st["batch"])}, {k(p + "/setup/seeds", st["seeds"])} seeds; <code>batchnorm_forward</code>/'
            f'<code>batchnorm_backward</code> of the reference with γ = {k(p + "/setup/gamma", st["gamma"])}, β = {k(p + "/setup/beta", st["beta"])}, '
            f'eps = {k(p + "/setup/eps", st["eps"])}. The weights are std × N(0, 1) with the same draws at both stds. '
            f'Mean-field factor with batchnorm {math_text("√(E[f′(u)²]/Var f(u))")}, u ~ N(0, 1): sigmoid {k(p + "/setup/theory_factor/sigmoid", th["sigmoid"], ".4g")}, '
            f'tanh {k(p + "/setup/theory_factor/tanh", th["tanh"], ".4g")}.</p>'
            + _claims_table(b["claims"], p + "/claims")
            + figure(figs["batchnorm"], "std of dA per layer with and without batchnorm",
                     "Std of the back-propagated gradient per layer: without batchnorm (dashed) it vanishes at std 0.01 and explodes "
                     "for tanh at std 1; with batchnorm (solid) the two inits give the same flat curve (Ioffe &amp; Szegedy 2015 §3.3).")
            + table(["activation", "weights", "batchnorm", "per-layer factor (median)", "median [range] over seeds", "std of dA⁰"], rows)
            + "</section>")


def _residual(r, figs) -> str:
    e = r["experiments"]["residual"]
    p = "experiments/residual"
    st = e["setup"]
    rows = []
    for i, c in enumerate(e["configs"]):
        cp = f"{p}/configs/{i}"
        share = _range(cp + "/identity_share", c["identity_share"]) if c["identity_share"] else "—"
        rows.append([k(cp + "/activation", c["activation"]), k(cp + "/init_label", c["init_label"]), k(cp + "/depth", c["depth"]),
                     "residual" if c["residual"] else "plain", k(cp + "/ratio_median", c["ratio_median"], ".4g"),
                     _range(cp + "/ratio", c["ratio"], ".3g"), k(cp + "/theory", c["theory"], ".4g"), share])
    return (f'<section id="residual"><h2>Residual connections</h2>'
            f'<p>Plain blocks {k(p + "/setup/plain", st["plain"])} against residual blocks {k(p + "/setup/residual", st["residual"])}, '
            f'width {k(p + "/setup/width", st["width"])}, batch {k(p + "/setup/batch", st["batch"])}, {k(p + "/setup/seeds", st["seeds"])} seeds, '
            f'{k(p + "/setup/input", st["input"])}. Backward: dx = dy + (dF/dx)ᵀ dy, the identity path adding dy itself (He et al. 2016, Eq. 5). '
            "The theory is the mean-field recursion (<code>remedies.residual_theory</code>): the identity adds 1 to the per-block "
            "variance factor, so unscaled sums grow (Balduzzi et al. 2017).</p>"
            + _claims_table(e["claims"], p + "/claims")
            + figure(figs["residual"], "gradient ratio vs depth, plain and residual",
                     "Left: std(dA⁰)/std(dA^L) against depth, measured (median over seeds) and mean-field (dotted). Right: the share of "
                     "‖dA⁰‖ that the identity path alone (dA^L passed straight down) carries.")
            + table(["activation", "init", "depth", "blocks", "std(dA⁰)/std(dA^L) (median)", "median [range] over seeds",
                     "mean-field theory", "identity path's share ‖dA^L‖/‖dA⁰‖"], rows)
            + "</section>")


def _dead_relu(r, figs) -> str:
    d = r["experiments"]["dead_relu"]
    p = "experiments/dead_relu"
    st = d["setup"]
    rows = [[k(f"{p}/configs/{i}/width", c["width"]), k(f"{p}/configs/{i}/depth", c["depth"]), k(f"{p}/configs/{i}/hidden", c["hidden"]),
             k(f"{p}/configs/{i}/dead_at_x0", c["dead_at_x0"], ".3f"), k(f"{p}/configs/{i}/theory_dead_at_x", c["theory_dead_at_x"], ".3f"),
             k(f"{p}/configs/{i}/dead_on_batch", c["dead_on_batch"], ".3f"), k(f"{p}/configs/{i}/dead_units", c["dead_units"], ".3f")]
            for i, c in enumerate(d["configs"])]
    srows = [[k(f"{p}/steps/{i}/lr", s_["lr"]), k(f"{p}/steps/{i}/dead_units_before", s_["dead_units_before"], ".3f"),
              k(f"{p}/steps/{i}/dead_units_after", s_["dead_units_after"], ".3f")] for i, s_ in enumerate(d["steps"])]
    sp = st["step"]
    return (f'<section id="dead_relu"><h2>Dead ReLU</h2>'
            f'<p>{k(p + "/setup/nets", st["nets"])} networks per (width, depth), {k(p + "/setup/init", st["init"])}, '
            f'{k(p + "/setup/batch", st["batch"])} inputs {k(p + "/setup/input", st["input"])}; a unit is dead when it is inactive '
            "on every input, a net is born dead when some hidden layer is (its output is then constant). Then one SGD step "
            f'(reference backwards, loss {k(p + "/setup/step/loss", sp["loss"])}, target {k(p + "/setup/step/target", sp["target"])}) on '
            f'width-{k(p + "/setup/step/width", sp["width"])}, depth-{k(p + "/setup/step/depth", sp["depth"])} nets.</p>'
            + _claims_table(d["claims"], p + "/claims")
            + figure(figs["dead_relu"], "dead relu fractions vs depth, and after one step",
                     "Left: nets dead at one input against the closed form. Middle: born dead on the whole batch, and the fraction of "
                     "dead units. Right: dead units before and after one SGD step at a small and a large learning rate.")
            + table(["width", "depth", "hidden layers", "dead at one input", "closed form " + math_text("1 − (1 − 2^{−N})^H"),
                     "born dead (whole batch)", "dead units"], rows)
            + table(["learning rate", "dead units at init", "after one step"], srows) + "</section>")


def _jacobian(r, figs) -> str:
    j = r["experiments"]["jacobian"]
    p = "experiments/jacobian"
    st = j["setup"]
    rows = []
    for i, init in enumerate(j["inits"]):
        ip = f"{p}/inits/{i}"
        rows.append([k(ip + "/label", init["label"]), k(ip + "/published", init["published"]), k(ip + "/settled_mean", init["settled_mean"], ".3f"),
                     ", ".join(k(f"{ip}/per_layer/{l}", v, ".3f") for l, v in enumerate(init["per_layer"]))])
    return (f'<section id="jacobian"><h2>Jacobian singular values</h2>'
            f'<p>{k(p + "/setup/activation", st["activation"])} net of depth {k(p + "/setup/depth", st["depth"])} and width '
            f'{k(p + "/setup/width", st["width"])}, {k(p + "/setup/input", st["input"])}, {k(p + "/setup/examples", st["examples"])} examples × '
            f'{k(p + "/setup/seeds", st["seeds"])} seeds. {math_text("J^l = W^l·diag(tanh′(z^l))")} with tanh′ from '
            "<code>tanh_backward</code>; every singular value of every example's J<sup>l</sup> is averaged. The claim uses layers "
            f'{k(p + "/setup/settled_from", st["settled_from"])} and up, past the transient of the input scale (shaded in the plot).</p>'
            + _claims_table(j["claims"], p + "/claims")
            + figure(figs["jacobian"], "mean singular value per layer",
                     "Mean singular value of the layer-to-layer Jacobian per layer (band: range over seeds); dotted: the values "
                     "Glorot &amp; Bengio 2010 §4.2.2 report (0.5 and 0.8).")
            + table(["init", "published", "measured (settled layers)", "per layer"], rows) + "</section>")


def _bn_init_scale(r, figs) -> str:
    b = r["experiments"]["bn_init_scale"]
    p = "experiments/bn_init_scale"
    st = b["setup"]
    rows = []
    for j, sd in enumerate(st["stds"]):
        cells = [k(f"{p}/setup/stds/{j}", sd, ".3g")]
        for ci, cu in enumerate(b["curves"]):
            runs = ", ".join("diverged" if a[j] is None else k(f"{p}/curves/{ci}/accuracy/{s_}/{j}", a[j], ".3f")
                             for s_, a in enumerate(cu["accuracy"]))
            cells += [k(f"{p}/curves/{ci}/median/{j}", cu["median"][j], ".3f"), runs]
        rows.append(cells)
    return (f'<section id="bn_init_scale"><h2>Batchnorm and the init scale</h2>'
            f'<p>{k(p + "/setup/hidden_layers", st["hidden_layers"])} hidden {k(p + "/setup/activation", st["activation"])} layers of '
            f'{k(p + "/setup/width", st["width"])} units, W ~ std·N(0, 1) at 16 stds from 1 to 1e-4, with and without batchnorm after each '
            f'hidden affine; {k(p + "/setup/optimizer", st["optimizer"])}, learning rate {k(p + "/setup/lr", st["lr"])}, a fixed budget of '
            f'{k(p + "/setup/iterations", st["iterations"])} steps on mini-batches of {k(p + "/setup/batch", st["batch"])}; '
            f'{k(p + "/setup/seeds", st["seeds"])} seeds. Data: {k(p + "/setup/data", st["data"])}; the largest class is '
            f'{k(p + "/setup/chance", st["chance"], ".3f")} of it. A run whose numbers stop being finite is reported as diverged.</p>'
            + _claims_table(b["claims"], p + "/claims")
            + figure(figs["bn_init_scale"], "training accuracy vs init std",
                     "Final training accuracy against the init std (dots: seeds, ×: diverged; line: median). Without batchnorm only a "
                     "narrow band of stds trains in the budget (too large diverges, too small stalls at the largest class); with "
                     "batchnorm nearly all do (Saito 2016, Fig. 6-19).")
            + table(["init std", "median without", "per seed without", "median with", "per seed with"], rows) + "</section>")


def _overfitting(r, figs) -> str:
    o = r["experiments"]["overfitting"]
    p = "experiments/overfitting"
    st = o["setup"]
    rows = []
    for i, c in enumerate(o["configs"]):
        cp = f"{p}/configs/{i}"
        last = len(c["train"]) - 1
        rows.append([k(cp + "/regulariser", c["regulariser"]), k(f"{cp}/train/{last}", c["train"][last], ".3f"),
                     k(f"{cp}/test/{last}", c["test"][last], ".3f"), k(cp + "/final_gap_median", c["final_gap_median"], ".3f"),
                     ", ".join(k(f"{cp}/final_gap/{j}", g, ".3f") for j, g in enumerate(c["final_gap"]))])
    return (f'<section id="overfitting"><h2>Overfitting and regularisation</h2>'
            f'<p>{k(p + "/setup/n_train", st["n_train"])} training and {k(p + "/setup/n_test", st["n_test"])} test examples '
            f'({k(p + "/setup/data", st["data"])}: {k(p + "/setup/label_noise", st["label_noise"])} of the training labels), '
            f'd = {k(p + "/setup/d", st["d"])}; {k(p + "/setup/hidden_layers", st["hidden_layers"])} hidden relu layers of '
            f'{k(p + "/setup/width", st["width"])} (He init), {k(p + "/setup/optimizer", st["optimizer"])}, learning rate '
            f'{k(p + "/setup/lr", st["lr"])}, {k(p + "/setup/epochs", st["epochs"])} epochs, {k(p + "/setup/seeds", st["seeds"])} seeds. '
            f'L2: <code>l2_penalty_forward/backward</code> with λ = {k(p + "/setup/l2", st["l2"])}; dropout: <code>dropout_mask</code>, '
            f'<code>dropout_forward/backward</code> (inverted) with p = {k(p + "/setup/dropout", st["dropout"])} on every hidden layer, '
            "none at evaluation.</p>"
            + _claims_table(o["claims"], p + "/claims")
            + figure(figs["overfitting"], "train and test accuracy over epochs",
                     "Train and test accuracy over the epochs (median over seeds); the shaded band is the gap (Saito 2016, "
                     "Fig. 6-20, 6-21, 6-23).")
            + table(["regulariser", "final train accuracy", "final test accuracy", "gap (median)", "gap per seed"], rows)
            + "</section>")


#: section id -> (nav title, renderer(report, figures)), in page order.
SECTIONS = {
    "vanishing": ("vanishing/exploding", lambda r, f: _vanishing(r, f)),
    "clipping": ("clipping", lambda r, f: _clipping(r, f)),
    "init": ("init", lambda r, f: _init(r)),
    "histograms": ("histograms", lambda r, f: _histograms(r, f)),
    "numdiff": ("numerical differentiation", lambda r, f: _numdiff(r, f)),
    "optimizers": ("optimizers", lambda r, f: _optimizers(r, f)),
    "xor": ("XOR and depth", lambda r, f: _xor(r, f)),
    "batchnorm": ("batchnorm", lambda r, f: _batchnorm(r, f)),
    "residual": ("residual", lambda r, f: _residual(r, f)),
    "dead_relu": ("dead ReLU", lambda r, f: _dead_relu(r, f)),
    "jacobian": ("Jacobians", lambda r, f: _jacobian(r, f)),
    "bn_init_scale": ("batchnorm vs init scale", lambda r, f: _bn_init_scale(r, f)),
    "overfitting": ("overfitting", lambda r, f: _overfitting(r, f)),
}


def _experiments(r, figures=None) -> str:
    e = r["experiments"]
    if "not_run" in e:
        return (f'<section id="experiments"><h2>Experiments</h2><p class="claim-bad">Not run: {k("experiments/not_run", e["not_run"])}.</p>'
                "</section>")
    figs = dict(figures or {})
    for group in FIGURE_GROUPS:
        if group not in e:
            continue
        missing = [fid for fid in figure_ids(group, e[group]) if fid not in figs]
        if missing:
            figs.update(figure_pngs(group, e[group], missing))
    skipped = e.get("not_selected") or []
    note = (f'<p class="note" id="not-selected">Experiments not selected for this report (<code>--experiments</code>): '
            + ", ".join(k(f"experiments/not_selected/{i}", n) for i, n in enumerate(skipped)) + ".</p>") if skipped else ""
    return note + "".join(render(r, figs) for name, (_, render) in SECTIONS.items() if name in e)


def _hypothesis(r) -> str:
    h = r["hypothesis"]
    if not h["available"]:
        return (f'<section id="hypothesis"><h2>Hypothesis coverage</h2><p class="claim-bad">Not available: '
                f'{k("hypothesis/reason", h["reason"])}.</p></section>')
    rows = []
    for op, events in h["ops"].items():
        items = ", ".join(f"{esc(ev)} ×{k(f'hypothesis/ops/{jp(op)}/{jp(ev)}', n)}" for ev, n in sorted(events.items())
                          if ev != "test cases")
        rows.append([f"<code>{esc(op)}</code>", k(f"hypothesis/ops/{jp(op)}/test cases", events.get("test cases")), items or "—"])
    return ('<section id="hypothesis"><h2>Hypothesis coverage</h2><p>What the properties oracle drew, per op: the number of '
            "test cases Hypothesis ran and how many of them recorded each <code>event()</code> (shape classes, strides, "
            "near-kink and hard samples).</p>" + table(["op", "test cases", "events"], rows) + "</section>")


def _conventions(r) -> str:
    rows = [[f"<code>{k(f'conventions/{i}/op', c['op'])}</code>", k(f"conventions/{i}/source", c["source"]),
             k(f"conventions/{i}/where", c["where"]), k(f"conventions/{i}/convention", c["convention"])]
            for i, c in enumerate(r["conventions"])]
    return ('<section id="conventions"><h2>Conventions</h2><p class="note">From the op registry: kinks with the convention '
            "the spec fixes there, declared conventions and restricted domains.</p>"
            + table(["op", "kind", "where", "convention"], rows) + "</section>")


def render_html(report: dict, figures: dict | None = None) -> str:
    """The whole page for a report dict (see ``schema.json``).

    ``figures``: figure id -> base64 PNG already drawn by :func:`figure_pngs` from
    the same report's experiments (the missing ones are drawn here).
    """
    s = report["summary"]
    verdict_ok = s["verdicts"].get("fail", 0) == 0 and s["verdicts"].get("error", 0) == 0
    nav = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("summary", "summary"), ("matrix", "matrix"), ("bp", "BP1–BP4"), ("dimensions", "dimensions"),
        *[(name, title) for name, (title, _) in SECTIONS.items() if name in report["experiments"]],
        ("hypothesis", "Hypothesis"), ("conventions", "conventions")))
    body = (f"<header><h1>{esc(PAGE_TITLE)}</h1><p>{esc(s['implementation']['name'])} — "
            f'<span class="badge {"s-pass" if verdict_ok else "s-fail"}" id="overall">{"all ops pass" if verdict_ok else "failures"}</span>'
            f"</p><nav>{nav}</nav></header>"
            + _summary(report) + _matrix(report) + _bp(report) + _dimensions(report) + _experiments(report, figures)
            + _hypothesis(report) + _conventions(report)
            + '<footer class="note"><p>Generated by gradspec. Every number on this page is in report.json next to it.</p></footer>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(PAGE_TITLE)}: {esc(s['implementation']['name'])}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")
