"""LOSSES: every loss of lossk by name. Tests, benchmarks and `lossk eval` iterate over it.

MEAN_OVER says, per loss, what its ``reduction="mean"`` divides the sum of the
losses by, so that `lossk eval` can stream a mean over chunks of rows (the
sums and the divisors of the chunks add up):

* ``"elements"``: every element of the prediction (the pointwise losses; kl_div:
  of the prediction and target broadcast together);
* ``"boxes"``: every box, ``pred.shape[:-1]``;
* ``"samples"``: every sample, the prediction without its class axis (axis 1);
* ``"weight[target]"``, ``"alpha[target]"``: the class weight option of each
  class-index target other than ``ignore_index`` (1 each without weights); the
  samples for probability targets.
"""

LOSSES = {}
MEAN_OVER = {}
MEAN_KINDS = ("elements", "boxes", "samples", "weight[target]", "alpha[target]")


def register(*, mean):
    """Decorator: add a public loss function to LOSSES under its name, with what
    its mean divides by (one of MEAN_KINDS)."""
    if mean not in MEAN_KINDS:
        raise ValueError(f"mean must be one of {MEAN_KINDS}, got {mean!r}")

    def add(fn):
        if fn.__name__ in LOSSES:
            raise RuntimeError(f"loss {fn.__name__!r} registered twice")
        LOSSES[fn.__name__] = fn
        MEAN_OVER[fn.__name__] = mean
        return fn
    return add
