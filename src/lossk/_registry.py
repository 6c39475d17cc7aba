"""The registry: one LossSpec per loss, which the tests, the benchmarks, `lossk
eval` and the adapters enumerate (nothing else keeps a list of loss names).

``LOSSES`` maps each name to its public function; ``SPECS`` to its LossSpec:

* ``family``: the family name, the same in every layer: ``csrc/<family>/``,
  ``lossk/<family>.py``, ``lossk/_args/<family>.py``,
  ``lossk/reference/<family>.py``, ``tests/test_<family>*.py`` and the
  benchmark workloads (taken from the module that defines the function);
* ``inputs``: the positional array arguments, in order; ``grads``: those that
  ``return_grad=True`` differentiates, in argument order (one gradient is
  returned as an array, several as a tuple); ``target``: the input holding the
  target, or None (penalties have none);
* ``reductions``: the values ``reduction`` takes;
* ``mean``: what ``reduction="mean"`` divides the sum of the losses by (so that
  `lossk eval` can stream a mean over chunks: the sums and divisors of the
  chunks add up), one of MEAN_KINDS:

  - ``"elements"``: every element of the prediction (the pointwise losses;
    kl_div: of the prediction and target broadcast together);
  - ``"boxes"``: every box, ``pred.shape[:-1]``;
  - ``"samples"``: every sample, the prediction without its class axis (axis 1);
  - ``"weight[target]"``, ``"alpha[target]"``: the class weight option of each
    class-index target other than ``ignore_index`` (1 each without weights);
    the samples for probability targets;
  - ``"none"``: a loss whose mean is not a sum over parts (RMSE, Dice);

* ``split``: ``"rows"`` if the loss of rows [a, b) of every input is the
  ``"sum"`` of that chunk, so the loss streams along axis 0 (`lossk eval`, the
  Dask adapter); ``"no"`` if it does not (batch Dice, NT-Xent, listwise sums
  over a whole batch);
* ``independent``: True if each sample's loss (an element's, a box's, a
  sample's and position's: the ``"none"`` output's entries) depends only on
  that sample's part of every differentiated input, so that the gradient of
  ``sum_i w_i loss_i`` is each sample's own gradient times ``w_i`` (lossk.torch's
  ``reduction="none"`` backward). Default: ``split == "rows"``; a loss that does
  not stream but whose samples are independent (listwise lists, the GAN
  generator losses) says so; one that streams but whose samples share a
  differentiated input would say False;
* ``peer``: the function whose numbers it matches (tests compare with it), or
  None for a loss that no installed peer computes.
"""
import inspect
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ._checks import REDUCTIONS

MEAN_KINDS = ("elements", "boxes", "samples", "weight[target]", "alpha[target]", "none")
SPLITS = ("rows", "no")


@dataclass(frozen=True)
class LossSpec:
    name: str
    family: str
    fn: Callable
    inputs: Tuple[str, ...]
    grads: Tuple[str, ...]
    target: Optional[str]
    reductions: Tuple[str, ...]
    mean: str
    split: str
    peer: Optional[str]
    independent: bool = False

    @property
    def reference(self):
        """lossk.reference.<name>, the NumPy twin."""
        from . import reference
        return getattr(reference, self.name)


LOSSES = {}
SPECS = {}
MEAN_OVER = {}   # name -> spec.mean (kept for the callers that read only that)


def register(*, mean, peer, grads=None, target="target", reductions=REDUCTIONS, split="rows", independent=None):
    """Decorator: add a public loss function to the registry under its name.

    mean : one of MEAN_KINDS; peer : the peer function's dotted name, or None (a
    required argument, so that "no peer" is said, not forgotten); grads : the
    differentiated inputs (default: the first input); target : the target
    input's name or None; reductions, split, independent (default: split ==
    "rows") : see the module's docstring."""
    if mean not in MEAN_KINDS:
        raise ValueError(f"mean must be one of {MEAN_KINDS}, got {mean!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def add(fn):
        name = fn.__name__
        if name in LOSSES:
            raise RuntimeError(f"loss {name!r} registered twice")
        params = inspect.signature(fn).parameters.values()
        inputs = tuple(p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD)
        spec = LossSpec(name=name, family=fn.__module__.rsplit(".", 1)[-1], fn=fn, inputs=inputs,
                        grads=tuple(grads) if grads is not None else inputs[:1], target=target,
                        reductions=tuple(reductions), mean=mean, split=split, peer=peer,
                        independent=split == "rows" if independent is None else bool(independent))
        if not set(spec.grads) <= set(inputs) or (target is not None and target not in inputs):
            raise ValueError(f"{name}: grads {spec.grads} and target {target!r} must be among "
                             f"its inputs {inputs}")
        LOSSES[name], SPECS[name], MEAN_OVER[name] = fn, spec, mean
        return fn
    return add


def family(name):
    """The names of the registered losses of one family, in registration order."""
    return [n for n, spec in SPECS.items() if spec.family == name]
