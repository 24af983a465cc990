"""HTML verification reports: ``gradspec report``.

* :mod:`gradspec.reports.build` — runs the checker over the registry with every
  available oracle, plus the experiments, and assembles ``report.json``
  (:func:`build_report`);
* :mod:`gradspec.reports.experiments` — gradient vanishing/exploding with the
  mean-field theory, clipping, init statistics, activation histograms, the
  numerical-differentiation V curve; each states the figure it reproduces;
* :mod:`gradspec.reports.remedies` — optimizer paths, XOR and parity, batchnorm,
  residual connections, dead relu, Jacobian singular values, batchnorm vs the
  init scale, overfitting and regularisation; each claim computed by a separate
  function of the measurements, so a broken measurement flips it;
* :mod:`gradspec.reports.render` — one self-contained HTML page from the JSON;
* :mod:`gradspec.reports.compare` — ``gradspec compare``: ops × implementations, each cell's
  status and named findings (``compare.json``, schema ``compare_schema.json``), rendered by
  :mod:`gradspec.reports.render_compare` from the JSON alone;
* :mod:`gradspec.reports.schema` — ``schema.json`` (every field documented) and
  a small validator.
"""


def build_report(*args, **kwargs):
    """See :func:`gradspec.reports.build.build_report`."""
    from .build import build_report as _build

    return _build(*args, **kwargs)


__all__ = ["build_report"]
