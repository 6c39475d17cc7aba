"""lossk.reference: plain-NumPy twins of every loss, same names and arguments.

The tests hold the C kernels to these. They compute in float64 and return the
result dtype of the kernels.
"""
from .box import (WIoULoss, box_iou, ciou_loss, diou_loss, eiou_loss, generalized_box_iou,
                    giou_loss, iou_loss, siou_loss, wiou_loss)
from .class_index import multi_margin_loss, nll_loss
from .softmax import cross_entropy, softmax_focal_loss
from .penalty import l1_penalty, l2_penalty
from .listwise import approx_ndcg_loss, listmle_loss, listnet_loss
from .segmentation import dice_loss, tversky_loss
from .crf import crf_decode, crf_nll_loss
from . import metric
from .metric import *  # noqa: F401,F403 (the family's public functions: metric.__all__)
from .linear import linear_cross_entropy
from . import pointwise
from .pointwise import *  # noqa: F401,F403 (the family's public functions: pointwise.__all__)

__all__ = ["WIoULoss", "box_iou", "ciou_loss", "cross_entropy", "diou_loss", "eiou_loss",
           "generalized_box_iou", "giou_loss", "iou_loss", "multi_margin_loss", "nll_loss", "siou_loss",
           "softmax_focal_loss", "wiou_loss", "l1_penalty", "l2_penalty",
           "listnet_loss", "listmle_loss", "approx_ndcg_loss",
           "dice_loss", "tversky_loss",
           "crf_nll_loss", "crf_decode",
           "linear_cross_entropy"] + pointwise.__all__ + metric.__all__
