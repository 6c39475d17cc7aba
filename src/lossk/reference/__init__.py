"""lossk.reference: plain-NumPy twins of every loss, same names and arguments.

The tests hold the C kernels to these. They compute in float64 and return the
result dtype of the kernels.
"""
from .box import (WIoULoss, box_iou, ciou_loss, diou_loss, eiou_loss, generalized_box_iou,
                    giou_loss, iou_loss, siou_loss, wiou_loss)
from .class_index import multi_margin_loss, nll_loss
from .softmax import cross_entropy, softmax_focal_loss
from .penalty import l1_penalty, l2_penalty
from .pointwise import (binary_cross_entropy, binary_cross_entropy_with_logits, hinge_loss, kl_div,
                          sigmoid_focal_loss)

__all__ = ["WIoULoss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "box_iou",
           "ciou_loss", "cross_entropy", "diou_loss", "eiou_loss", "generalized_box_iou", "giou_loss",
           "hinge_loss", "iou_loss", "kl_div", "l1_penalty", "l2_penalty", "multi_margin_loss",
           "nll_loss", "siou_loss",
           "softmax_focal_loss", "wiou_loss", "sigmoid_focal_loss"]
