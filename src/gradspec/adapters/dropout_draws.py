"""Dropout code that draws its own mask, checked against the protocol's given mask.

The protocol passes the mask: ``dropout_forward(x, mask, p)``. Code in the cs231n or fish-book style
draws it inside the forward. A kit recovers the mask each draw of the code made from its output (a
unit is kept where the output is nonzero; where x is 0, where the backward's dx is nonzero), calls
the code again with the next seed until every element has been seen in the state the protocol's
mask asks for, and takes each element of the output (and of dx) from such a draw. Dropout is
element-wise, so this is exactly the code's output for the given mask, and it is deterministic
whatever the code's draws are.

At p = 0 no unit is ever dropped: the mask's dropped units are taken as 0 (the spec's value, and what
every dropout gives), and the kit notes it. An element whose requested state never came up in
``MAX_DRAWS`` draws is an error naming the element and p.

``draw(k)`` is the kit's call of the code for draw k (seeding the code's RNG with k where it can).
"""
from __future__ import annotations

import numpy as np

MAX_DRAWS = 4000


class DropoutDrawError(RuntimeError):
    """The code never kept (or never dropped) an element the protocol's mask asks for."""


def assemble(draw, x, mask, with_backward: bool, p_drop: float, memo: dict | None = None):
    """(out, dx or None, unobserved_dropped) with each element from a draw whose mask matches ``mask``.

    ``memo`` (a dict kept by the kit) remembers which draws covered a (shape, p, mask): a later call with the
    same mask (central differences call the forward many times) tries those draws first. The result does
    not depend on the order of the draws.
    """
    x = np.asarray(x, dtype=np.float64)
    want = np.asarray(mask) != 0
    key = (x.shape, float(p_drop), want.tobytes(), with_backward)
    first = list(memo.get(key, ())) if memo is not None else []
    order = first + [k for k in range(MAX_DRAWS) if k not in set(first)]
    used = []
    out = np.zeros(x.shape)
    dx = np.zeros(x.shape) if with_backward else None
    filled = np.zeros(x.shape, dtype=bool)
    if not with_backward:
        filled |= x == 0  # the output is 0 whatever the state
    unseen = 0
    if float(p_drop) == 0.0:  # nothing is ever dropped: a dropped unit of the mask is 0 (the spec's value)
        unseen = int(np.sum(~filled & ~want))
        filled |= ~want
    for k in order:
        o, d = draw(k)
        o = np.asarray(o, dtype=np.float64)
        if o.shape != x.shape:
            raise DropoutDrawError(f"dropout: the code's output has shape {o.shape}, expected x's {x.shape}")
        kept = o != 0
        if with_backward:
            d = np.asarray(d, dtype=np.float64)
            if d.shape != x.shape:
                raise DropoutDrawError(f"dropout: the code's dx has shape {d.shape}, expected x's {x.shape}")
            zero_x = x == 0
            kept = np.where(zero_x, d != 0, kept)
        take = ~filled & (kept == want)
        out[take] = o[take]
        if with_backward:
            dx[take] = d[take]
        filled |= take
        if take.any():
            used.append(k)
        if filled.all():
            if memo is not None:
                memo[key] = used
            return out, dx, unseen
    idx = tuple(int(i) for i in np.argwhere(~filled)[0])
    state = "kept" if want[idx] else "dropped"
    raise DropoutDrawError(f"dropout: element {idx} was never {state} in {MAX_DRAWS} draws of the code at drop "
                           f"probability p = {p_drop:g}; the protocol's mask has it {state}")


def keep_fraction(draw_once, n: int = 20000) -> float:
    """Fraction of units of ``x = 1`` the code keeps in one draw (detects what its ``p`` means)."""
    o = np.asarray(draw_once(np.ones(n)), dtype=np.float64)
    return float(np.mean(o != 0))


class GlobalNumpyState:
    """Saves NumPy's legacy global random state on entry and restores it on exit.

    Code that draws from (or seeds) ``np.random`` changes process-wide state; the kit's repeated draws
    would otherwise leave it changed. Kits that use this say so in their notes.
    """

    def __enter__(self):
        self.state = np.random.get_state()
        return self

    def __exit__(self, *exc):
        np.random.set_state(self.state)
        return False
