"""lossk: loss functions and their gradients in one fused pass, in C with OpenMP.

    loss = lossk.cross_entropy(logits, target)
    loss, grad = lossk.cross_entropy(logits, target, return_grad=True)

Every loss has a plain-NumPy twin in ``lossk.reference`` and is listed in
``lossk.LOSSES``. See ``lossk.show_config()`` for the build.
"""
from ._config import config, show_config
from ._registry import LOSSES
from ._threads import get_num_threads, num_threads, set_num_threads
from .classification import cross_entropy, multi_margin_loss, nll_loss, softmax_focal_loss
from .elementwise import (binary_cross_entropy, binary_cross_entropy_with_logits, hinge_loss, kl_div,
                          sigmoid_focal_loss)
from . import reference

__version__ = "0.1.0"

__all__ = ["LOSSES", "config", "cross_entropy", "get_num_threads", "multi_margin_loss", "nll_loss",
           "num_threads", "reference", "set_num_threads", "show_config", "softmax_focal_loss",
           "__version__",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss", "kl_div",
           "sigmoid_focal_loss"]
