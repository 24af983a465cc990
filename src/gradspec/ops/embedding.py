"""Record of the embedding lookup (``gradspec.reference.embedding``), with every piece of the op.

``embedding_forward(ids, E)``: the rows ``E[ids]``; its backward scatter-*adds* the rows of dy into dE (an id
that occurs k times receives the sum of its k rows). ``ids`` are integers (role ``labels``: no gradient, no
symbol, passed as they are to every oracle). Every sampler draws repeated ids (a last-write-wins assignment
is then wrong) and ids of 2 and 3 dimensions (a dy paired with the ids in another order is then wrong).
"""
from __future__ import annotations

import numpy as np

from ..properties.checks import EPS, assert_close, cotangent, fn, seeded_rng
from ..spec import Arg, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64

NAME = "embedding"


# --------------------------------------------------------------------------- sampler
def with_repeat(ids: np.ndarray) -> np.ndarray:
    """``ids`` with its last element set to its first when it has two or more elements and no repeated id."""
    ids = np.array(ids, dtype=np.int64)
    if ids.size >= 2 and len(np.unique(ids)) == ids.size:
        ids.flat[-1] = ids.flat[0]
    return ids


def embedding_structure(rng: np.random.Generator) -> dict:
    S = [(int(rng.integers(1, 7)),), (int(rng.integers(1, 4)), int(rng.integers(2, 4))),
         (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(2, 4)))][int(rng.integers(0, 3))]
    return {"S": S, "V": int(rng.integers(1, 7)), "D": int(rng.integers(1, 5))}


def embedding_values(case: dict, rng: np.random.Generator) -> dict:
    """E ~ N(0, 1) of (V, D); ids fixed by the case when it names them (the SymPy structures), else drawn with a
    repeated id whenever there are two or more."""
    V, D = case["V"], case["D"]
    if "ids" in case:
        ids = np.array(case["ids"], dtype=np.int64)
    else:
        ids = with_repeat(rng.integers(0, V, size=case["S"]))
    return {"ids": ids, "E": rng.normal(size=(V, D))}


#: The structures the SymPy derivation runs at: fixed ids (the derivation depends on them), each with an id
#: repeated (scatter-add) and a row no id selects; the first has 2-D ids whose transpose pairs them otherwise.
#: The symbolic oracle caches a derivation by the shapes of a sample's arrays (an int array other than ``labels``
#: counts by its shape), so no two cases share the shape of ids.
CASES = ({"ids": ((0, 2, 0), (1, 0, 3)), "V": 5, "D": 2}, {"ids": (1, 1, 0, 1), "V": 3, "D": 3})


def embedding_output_shape(s: dict) -> tuple:
    return tuple(np.shape(s["ids"])) + (int(np.shape(s["E"])[1]),)


def embedding_strategy(mode: str):
    """Hypothesis samples: ids of 1 to 3 dimensions with a repeated id whenever there are two or more; ``hard``:
    every id the same (one row sums every dy row) and |E| up to 1e3."""
    from hypothesis import event, strategies as st
    from hypothesis.extra import numpy as hnp

    from ..properties.strategies import SCALES, arrays

    @st.composite
    def draw_sample(draw):
        nd = draw(st.integers(1, 3))
        S = tuple(draw(st.integers(1, 4)) for _ in range(nd))
        V, D = draw(st.integers(1, 6)), draw(st.integers(1, 4))
        if mode == "hard":
            ids = np.full(S, draw(st.integers(0, V - 1)), dtype=np.int64)
            E = draw(arrays((V, D), -1e3, 1e3))
            event("hard: every id the same, |E| up to 1e3")
        else:
            ids = with_repeat(draw(hnp.arrays(np.int64, S, elements=st.integers(0, V - 1), fill=st.nothing())))
            s = draw(st.sampled_from(SCALES))
            E = draw(arrays((V, D), -s, s))
        event(f"embedding: {nd}-D ids, {'a repeated id' if len(np.unique(ids)) < ids.size else 'one id'}")
        return {"ids": ids, "E": E, "seed": draw(st.integers(0, 2**32 - 1))}

    return draw_sample()


# --------------------------------------------------------------------------- SymPy, mpmath, error model, vectors
def embedding_sympy(sample: dict):
    """y = E[ids] on symbols; the spec's dE: each row of dy added to the row of E its id selects."""
    import sympy as sp

    from ..symbolic.definitions import Definition, sym_array

    ids = np.asarray(sample["ids"], dtype=np.int64)
    V, D = np.shape(sample["E"])
    E = sym_array("E", (V, D), real=True)
    y = E[ids]

    def spec(dy):  # embedding_backward docstring: dE_v = Σ_{i: ids_i = v} dy_i
        dE = np.full((V, D), sp.Integer(0), dtype=object)
        rows = np.asarray(dy, dtype=object).reshape(-1, D)
        for i, v in enumerate(ids.ravel()):
            dE[v] = dE[v] + rows[i]
        return (dE,)

    return Definition({"E": E}, y, ("E",), spec, "expand")


def embedding_mp(s: dict, pattern=None):
    """The rows E[ids] as mpf (a copy: exact)."""
    from ..mpmath_oracle.forward import guard

    return guard(s["E"][np.asarray(s["ids"], dtype=np.int64)], "embedding"), None


def embedding_error_model(s: dict, dy):
    """Forward: copies (exact). dE: row v sums its count_v rows of dy, error γ_{count_v − 1}·Σ|dy_i|."""
    from ..mpmath_oracle.tolerance import U, Bounded, Model

    ids = np.asarray(s["ids"], dtype=np.int64).ravel()
    E = np.asarray(s["E"], dtype=np.float64)
    V, D = E.shape
    rows = np.asarray(dy, dtype=np.float64).reshape(-1, D)
    dE, mag = np.zeros((V, D)), np.zeros((V, D))
    np.add.at(dE, ids, rows)
    np.add.at(mag, ids, np.abs(rows))
    n = np.maximum(np.bincount(ids, minlength=V) - 1, 0)[:, None] * U
    return Model(Bounded(E[np.asarray(s["ids"], dtype=np.int64)]), {"E": Bounded(dE, n / (1 - n) * mag)})


def embedding_vectors(s: dict, A: dict, d) -> dict:
    """The golden values at 50 digits: the rows E[ids] and the scatter-add of d."""
    import mpmath

    ids = np.asarray(s["ids"], dtype=np.int64)
    E = A["E"]
    V, D = E.shape
    dE = np.full((V, D), mpmath.mpf(0), dtype=object)
    rows = np.asarray(d, dtype=object).reshape(-1, D)
    for i, v in enumerate(ids.ravel()):
        dE[v] = dE[v] + rows[i]
    return {"outputs": {"forward": E[ids]}, "gradients": {"E": dE}}


def embedding_torch(ids, E):
    """``F.embedding(ids, E)``: torch's own lookup (its backward accumulates repeated ids)."""
    import torch.nn.functional as F

    return F.embedding(ids, E)


def embedding_xp(xp, ids, E):
    """``E[ids]``, the lookup as a NumPy user writes it, after the spec's checks on the concrete ids (integers in
    [0, V): NumPy would read −1 as row V − 1, and so would JAX, which also clamps V to row V − 1). The
    framework's gradient of the indexing is the scatter-add the spec asks for."""
    if len(E.shape) != 2:
        raise ValueError(f"embedding: E must be a (V, D) table, got shape {tuple(E.shape)}")
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be an integer array, got dtype {ids.dtype}")
    V = E.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"embedding: ids must lie in [0, V) = [0, {V}) (the rows of E), got values in "
                         f"[{ids.min()}, {ids.max()}]")
    return E[ids]


# --------------------------------------------------------------------------- the op's own properties
def out_of_range(ids: np.ndarray, V: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Copies of ``ids`` with one element (chosen by ``rng``) set to −1 and to V: ids outside [0, V)."""
    out = []
    k = int(rng.integers(0, ids.size))
    for bad in (-1, V):
        b = np.array(ids, dtype=np.int64)
        b.flat[k] = bad
        out.append(b)
    return out


def prop_rejects_out_of_range_ids(impl, sample):
    """ids outside [0, V) (−1, V) are rejected by the forward and the backward (an exception), never read as
    another row: −1 would silently select row V − 1 (NumPy's negative indexing).

    The sample this property reports on failure is the one with the out-of-range ids: they replace
    ``sample["ids"]`` before the AssertionError, so the failure's example is the input that was accepted.
    """

    E = np.asarray(sample["E"], dtype=np.float64)
    V = E.shape[0]
    dy = cotangent(sample, embedding_output_shape(sample))
    rng = seeded_rng(sample, 7)
    for bad in out_of_range(np.asarray(sample["ids"]), V, rng):
        for name, args in (("embedding_forward", (bad, E)), ("embedding_backward", (bad, E, dy))):
            try:
                fn(impl, name)(*args)
            except Exception:  # noqa: BLE001 - any exception is a rejection; the property asks for one
                continue
            sample["ids"] = bad
            raise AssertionError(f"embedding: ids must lie in [0, V) = [0, {V}): {name} accepted ids holding "
                                 f"{int(bad.min()) if bad.min() < 0 else int(bad.max())} ({bad.tolist()}) "
                                 "instead of rejecting them")


def prop_gradient_is_scatter_add(impl, sample):
    """dE sums dy over the positions: Σ_v dE_v = Σ_i dy_i (every row of dy counted once, repeated ids too), and a
    row of E that no id selects gets exactly 0 (within cε·Σ|dy| for the reordered sums)."""

    ids, E = np.asarray(sample["ids"]), np.asarray(sample["E"], dtype=np.float64)
    V, D = E.shape
    dy = cotangent(sample, embedding_output_shape(sample))
    dE = np.asarray(fn(impl, "embedding_backward")(ids, E, dy), dtype=np.float64)
    rows = np.asarray(dy, dtype=np.float64).reshape(-1, D)
    tol = 4 * EPS * (rows.shape[0] + V) * np.abs(rows).sum(axis=0)
    assert_close(dE.sum(axis=0), rows.sum(axis=0), tol, "embedding: Σ_v dE_v = Σ_i dy_i (a scatter-add)",
                 "Σ_v dE")
    unused = np.setdiff1d(np.arange(V), np.asarray(ids).ravel())
    assert_close(dE[unused], np.zeros((len(unused), D)), 0.0,
                 "embedding: a row no id selects gets no gradient", f"dE[rows {unused.tolist()}]")


# --------------------------------------------------------------------------- known variants
CATALOGUE = Catalogue()


def validated(ids, E):
    """ids and E as the reference reads them (its forward validates: out-of-range ids raise as there)."""
    from .. import reference as ref

    ref.embedding_forward(ids, E)
    return np.asarray(ids, dtype=np.int64), f64(E)


def backward_assigns(ids, E, dy):
    ids, E = validated(ids, E)
    dE = np.zeros_like(E)
    dE[ids.ravel()] = f64(dy).reshape(-1, E.shape[1])  # last write wins: a repeated id keeps one row of dy
    return dE


def backward_transposed_ids(ids, E, dy):
    ids, E = validated(ids, E)
    dE = np.zeros_like(E)
    np.add.at(dE, ids.T.reshape(-1), f64(dy).reshape(-1, E.shape[1]))  # ids in reversed-axis order, dy row-major
    return dE


def forward_wraps(ids, E):
    return f64(E)[np.asarray(ids)]


def backward_wraps(ids, E, dy):
    E = f64(E)
    dE = np.zeros_like(E)
    np.add.at(dE, np.asarray(ids).reshape(-1), f64(dy).reshape(-1, E.shape[1]))
    return dE


def forward_wraps_take(ids, E):
    return np.take(np.asarray(E, dtype=np.float64), np.asarray(ids), axis=0)


def backward_wraps_loop(ids, E, dy):
    E = np.asarray(E, dtype=np.float64)
    rows = np.asarray(dy, dtype=np.float64).reshape(-1, E.shape[1])
    dE = np.zeros(E.shape)
    for i, v in enumerate(np.asarray(ids).ravel()):
        dE[v] += rows[i]  # a negative v counts from the end
    return dE


CATALOGUE.variant(
    "rows_assigned_not_accumulated", NAME,
    "embedding_backward assigns dE[ids] = dy instead of adding (np.add.at): an id that occurs several times keeps "
    "only its last row of dy (last write wins); the spec sums them",
    mutant="embedding_backward_assigns_rows", description="embedding_backward writes dE[ids] = dy (last write wins)",
    embedding_backward=backward_assigns)
CATALOGUE.variant(
    "dy_rows_misaligned", NAME,
    "embedding_backward pairs the ids and the rows of dy in different orders (ids.T flattened against dy flattened "
    "row-major): with 2-D or 3-D ids a row of dy lands on another position's id",
    mutant="embedding_backward_transposed_ids", description="embedding_backward flattens ids.T against dy",
    embedding_backward=backward_transposed_ids)
CATALOGUE.variant(
    "negative_ids_wrap", NAME,
    "ids are not validated: a negative id selects row V + id (NumPy's negative indexing) in the forward and "
    "receives that row's gradient in the backward; the spec rejects ids outside [0, V) with a ValueError",
    mutant="embedding_negative_ids_wrap", description="embedding reads id −1 as row V − 1 (np.take, a loop)",
    witness={"embedding_forward": forward_wraps_take, "embedding_backward": backward_wraps_loop},
    embedding_forward=forward_wraps, embedding_backward=backward_wraps)


def probe_negative_id(rng: np.random.Generator) -> dict:
    """ids holding −1 (the reference raises; a wrapping implementation reads row V − 1)."""
    return {"ids": np.array([[0, -1], [2, 0]], dtype=np.int64), "E": rng.normal(size=(4, 3))}


def probe_repeated_2d(rng: np.random.Generator) -> dict:
    """2-D ids, not symmetric, with a repeated id: both an assignment and a misaligned dy show."""
    return {"ids": np.array([[1, 3, 1], [0, 1, 2]], dtype=np.int64), "E": rng.normal(size=(5, 2))}


CATALOGUE.probe(NAME, probe_negative_id)
CATALOGUE.probe(NAME, probe_repeated_2d)


OPS = (
    OpSpec(NAME, "differentiable", "embedding", "rows of E selected by integer ids: E[ids]",
           (Arg("ids", "labels", False, "any shape S, integers in [0, V)"), Arg("E", "param", True, "(V, D)")),
           ("embedding_forward", "embedding_backward"), "ids S (ints in [0, V)), E (V,D) -> (*S, D)",
           Sampler(embedding_structure, embedding_values, Ref(__name__, "embedding_strategy"), ("away", "hard"),
                   cases=CASES),
           embedding_output_shape, domain="ids: integers in [0, V); E: finite float64",
           conventions=("dE scatter-adds: an id repeated k times receives the sum of its k rows of dy",
                        "ids outside [0, V) raise ValueError (never read as counting from the end)"),
           sympy=Ref(__name__, "embedding_sympy"), mp_forward=Ref(__name__, "embedding_mp"),
           error_model=Ref(__name__, "embedding_error_model"), vector_values=Ref(__name__, "embedding_vectors"),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "embedding_torch"),
           xp=Ref(__name__, "embedding_xp"),
           properties=(OpProperty("rejects_out_of_range_ids", Ref(__name__, "prop_rejects_out_of_range_ids"),
                                  weight=0.3),
                       OpProperty("gradient_is_scatter_add", Ref(__name__, "prop_gradient_is_scatter_add"),
                                  ("away", "hard")))),
)
