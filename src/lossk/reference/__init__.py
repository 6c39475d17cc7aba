"""lossk.reference: plain-NumPy twins of every loss, same names and arguments.

The tests hold the C kernels to these. They compute in float64 and return the
result dtype of the kernels.
"""
from .classification import cross_entropy, multi_margin_loss, nll_loss, softmax_focal_loss
from .elementwise import (binary_cross_entropy, binary_cross_entropy_with_logits, hinge_loss, kl_div,
                          sigmoid_focal_loss)

__all__ = ["cross_entropy", "multi_margin_loss", "nll_loss", "softmax_focal_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss", "kl_div",
           "sigmoid_focal_loss"]
