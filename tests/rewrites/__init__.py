"""The equivalent-rewrites corpus: correct implementations of the whole protocol that differ from the spec's
reference only in floating-point operation order or algorithm. gradspec must pass every one of them with every
oracle (``tests/test_rewrites.py``); a failure here is a false alarm of gradspec, not a bug of the rewrite.

Three plain modules, each a complete implementation of every op of :data:`gradspec.registry.OPS`, written
independently of :mod:`gradspec.reference`:

* :mod:`.order` - the same formulas with the operations in another order (divisions first, means per row,
  ``einsum`` reductions, ``1 - p`` with an integer 1, Adam's bias correction folded into the step size).
* :mod:`.algorithm` - other algorithms (sigmoid through tanh and cosh, softmax's full Jacobian, conv2d and
  pooling with loops over the kernel offsets, batchnorm's staged backward, the MLP in the column layout,
  Box–Muller init) and optimizer states that are class instances (a plain class, ``__slots__``, a dataclass).
* :mod:`.textbook` - first-implementation forms (``np.where`` dropout, σ(x)σ(−x), conv2d as loops over output
  positions, Ioffe and Szegedy's batchnorm backward, ``K · mean`` losses, optimizer states that are None, a
  list, a namedtuple, a dict and a tuple).

:data:`REWRITES` names, per op, what each module does differently.

Same function or not
--------------------
Every rewrite above computes the spec's function exactly over the reals; only rounding differs. In particular
Adam in :mod:`.order` folds the bias correction into the step size *and* rescales eps,
``lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + eps·√(1−β₂ᵗ))``, which equals ``lr·m̂/(√v̂ + eps)`` exactly.

Not in the corpus, because they compute a different function (:data:`DIFFERENT_FUNCTIONS`; the tests show gradspec
flags them):

* Adam with the correction folded into the step size and eps left alone (Kingma and Ba's "more efficient"
  ordering, §2): ``lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + eps)`` = ``lr·m̂/(√v̂ + eps/√(1−β₂ᵗ))``: eps is effectively
  enlarged by 1/√(1−β₂ᵗ) (about 32× at t = 1 with β₂ = 0.999), so the step differs by a relative
  ~eps·(1/√(1−β₂ᵗ) − 1)/√v̂, about 3e-7 at |g| = 1 - far above rounding.
* Momentum in PyTorch's buffer form ``b ← μb + g, w ← w − lr·b``: the same trajectory as the spec's
  ``v ← μv − lr·g, w ← w + v`` only while lr stays constant; with a schedule the two differ (the buffer
  rescales every past gradient by the new lr).
"""

REWRITES = {
    "sigmoid": {"order": "e^{-|x|} form, σ' as (σ(1−σ))·dy", "algorithm": "through tanh and cosh",
                "textbook": "1/(1+e^{-x}), σ' = σ(x)σ(−x)"},
    "tanh": {"order": "dy − dy·t·t", "algorithm": "through expm1; tanh' = 1/cosh²", "textbook": "(1−t)(1+t)"},
    "relu": {"order": "x·[x>0]", "algorithm": "np.heaviside", "textbook": "(x+|x|)/2, (sign(x)+1)//2"},
    "leaky_relu": {"order": "x·[x>0] + alpha·x·[x<=0]", "algorithm": "max(x, alpha·x) (alpha < 1)",
                   "textbook": "relu(x) − alpha·relu(−x), slope from sign(x)"},
    "step": {"order": "np.where", "algorithm": "np.heaviside", "textbook": "(sign(x)+1)//2"},
    "gelu": {"order": "Φ = erfc(−x/√2)/2, dy·Φ + dy·x·φ", "algorithm": "Φ from erfc on either side of 0",
             "textbook": "element by element with math.erf"},
    "gelu_tanh": {"order": "u = √(2/π)·x·(1 + c·x²), 1 − t² as (1 − t)(1 + t)",
                  "algorithm": "(1 + tanh u)/2 = σ(2u)", "textbook": "sech² u = 1/cosh² u"},
    "softmax": {"order": "einsum inner product", "algorithm": "full Jacobian diag(y) − yyᵀ",
                "textbook": "y·(dy − Σ y·dy)"},
    "affine": {"order": "einsum", "algorithm": "column form (Wᵀxᵀ)ᵀ, db = 1ᵀdy", "textbook": "np.dot"},
    "mse": {"order": "mean of row sums", "algorithm": "rᵀr/(2N)", "textbook": "K·mean"},
    "cross_entropy": {"order": "mean of row sums", "algorithm": "einsum", "textbook": "K·mean"},
    "softmax_cross_entropy": {"order": "mean of lse − z_y", "algorithm": "log-softmax by logaddexp.reduce",
                              "textbook": "one example at a time"},
    "binary_cross_entropy": {"order": "softplus by logaddexp, mean of row sums",
                             "algorithm": "t·softplus(−z) + (1−t)·softplus(z)", "textbook": "K·mean"},
    "conv2d": {"order": "einsum over sliding windows", "algorithm": "loops over kernel offsets",
               "textbook": "nested loops over output positions"},
    "max_pool2d": {"order": "argmax + np.add.at", "algorithm": "running strict maximum over offsets",
                   "textbook": "loops over every window"},
    "avg_pool2d": {"order": "mean of the window view", "algorithm": "np.add.at per offset",
                   "textbook": "loops over output positions"},
    "batchnorm": {"order": "γ/σ·(dy − mean dy − x̂·mean(dy·x̂))", "algorithm": "staged graph backward",
                  "textbook": "Ioffe & Szegedy's ∂σ², ∂μ, ∂x"},
    "layernorm": {"order": "γ/σ·(g − mean g − x̂·mean(g·x̂)), g = dy·γ", "algorithm": "(rows, m) matrix, staged graph "
                  "backward, einsum", "textbook": "Ioffe & Szegedy's ∂σ², ∂μ, ∂x per group"},
    "dropout": {"order": "dy * mask / (1 - p)", "algorithm": "dy * (mask / (1 - p))",
                "textbook": "np.where(mask == 1, dy / (1 - p), 0)"},
    "l2_penalty": {"order": "lam/2·w·w by np.dot", "algorithm": "np.vdot", "textbook": "lam·Σw²/2"},
    "clip_grad_norm": {"order": "scaled norm, factor·g", "algorithm": "np.linalg.norm of the concatenation",
                       "textbook": "plain √Σg²"},
    "clip_grad_value": {"order": "min(clip, max(−clip, g))", "algorithm": "np.clip", "textbook": "np.where"},
    "sgd": {"order": "dict state", "algorithm": "class-instance state", "textbook": "None state"},
    "momentum": {"order": "dict state", "algorithm": "class-instance state", "textbook": "list state"},
    "adagrad": {"order": "lr/(√r+eps)·g", "algorithm": "__slots__ state", "textbook": "namedtuple state"},
    "rmsprop": {"order": "lr/(√r+eps)·g", "algorithm": "incremental mean, __slots__ state",
                "textbook": "dict state with another key"},
    "adam": {"order": "correction folded into the step, eps rescaled", "algorithm": "√v/√(1−β₂ᵗ), dataclass state",
             "textbook": "tuple state"},
    "init_xavier_normal": {"order": "standard_normal·std", "algorithm": "Box–Muller", "textbook": "rng.normal"},
    "init_xavier_uniform": {"order": "a·(2u − 1)", "algorithm": "rng.uniform", "textbook": "rng.uniform, **0.5"},
    "init_he_normal": {"order": "standard_normal/√(fan_in/2)", "algorithm": "Box–Muller", "textbook": "rng.normal"},
    "init_he_uniform": {"order": "a·(2u − 1)", "algorithm": "rng.uniform", "textbook": "rng.uniform, **0.5"},
    "init_lecun_normal": {"order": "standard_normal/√fan_in", "algorithm": "Box–Muller", "textbook": "fan_in**−0.5"},
    "mlp": {"order": "δ without 1/N, the mean in BP3/BP4", "algorithm": "column layout, transposed back",
            "textbook": "row layout from the loss functions"},
    "perceptron": {"order": "np.dot, err = lr·(t − y)", "algorithm": "np.heaviside",
                   "textbook": "Python sum of products"},
    "rnn": {"order": "one product [h, x]·[Wh; Wx] per step, weight gradients by einsum over (n, t)",
            "algorithm": "input projection for all steps at once, tanh' = 1/cosh² of the pre-activation",
            "textbook": "cs231n step functions with caches, dh_t = dy_t + dprev_h"},
    "embedding": {"order": "dE row by row: the rows of dy of each used id summed by np.sum",
                  "algorithm": "one-hot matrix products (onehot·E, onehotᵀ·dy)",
                  "textbook": "one position at a time, dE[id] += dy row"},
    "residual": {"order": "(x + b2) + relu(h)·W2, einsum backward", "algorithm": "column layout, np.heaviside mask",
                 "textbook": "composed from affine and relu layers plus the skip connection"},
    "attention": {"order": "Q/√d before the product, einsum reductions", "algorithm": "log-sum-exp softmax, "
                  "the softmax backward through its full Jacobian", "textbook": "row by row over the attended keys "
                  "only (masked keys never enter)"},
}

MODULES = ("order", "algorithm", "textbook")

DIFFERENT_FUNCTIONS = {
    "adam_folded_eps_unscaled": "Adam's bias correction folded into the step size with eps left alone",
    "momentum_torch_buffer_lr_schedule": "momentum as b ← μb + g, w ← w − lr·b, with lr changing between steps",
}
