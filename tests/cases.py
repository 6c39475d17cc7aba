"""One valid example call per registered loss, for the registry-driven tests.

CASES[name](rng, dtype) -> (args, kwargs): positional arrays (prediction first)
and keyword options of a typical call. Every loss in lossk.LOSSES has an entry
(the registry-driven tests, e.g. tests/test_eval.py, fail without one).
"""
import warnings

import numpy as np

from lossk._registry import family


def _cross_entropy(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    t = rng.integers(0, 11, 37)
    t[::5] = -100
    return (x, t), dict(weight=rng.random(11).astype(dtype), label_smoothing=0.1)


def _softmax_focal_loss(rng, dtype):
    x = rng.standard_normal((5, 11, 3)).astype(dtype)
    t = rng.integers(0, 11, (5, 3))
    t[::2, 1] = -100
    return (x, t), dict(alpha=rng.random(11).astype(dtype), gamma=2.0)


def _nll_loss(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    t = rng.integers(0, 11, 37)
    t[::5] = 3
    return (x, t), dict(weight=rng.random(11).astype(dtype), ignore_index=3)


def _multi_margin_loss(rng, dtype):
    x = rng.standard_normal((37, 11)).astype(dtype)
    return (x, rng.integers(0, 11, 37)), dict(p=2, margin=0.8, weight=rng.random(11).astype(dtype))


def _boxes(rng, dtype, n=29):
    """n valid xyxy predictions and overlapping targets."""
    xy = rng.uniform(0, 50, (n, 2))
    pred = np.concatenate([xy, xy + rng.uniform(1, 20, (n, 2))], axis=1)
    target = pred + rng.normal(0, 3, (n, 4))
    target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 0.5)
    return pred.astype(dtype), target.astype(dtype)


def _box_case(**kwargs):
    return lambda rng, dtype: (_boxes(rng, dtype), dict(kwargs))


def _binary_target(rng, shape, dtype):
    return (rng.random(shape) < 0.3).astype(dtype)


def _sigmoid_focal_loss(rng, dtype):
    x = (3 * rng.standard_normal((29, 5))).astype(dtype)
    return (x, _binary_target(rng, x.shape, dtype)), dict(alpha=0.25, gamma=2.0)


def _binary_cross_entropy(rng, dtype):
    p = rng.uniform(0.01, 0.99, (29, 5)).astype(dtype)
    return (p, _binary_target(rng, p.shape, dtype)), dict(weight=rng.random(5).astype(dtype))


def _binary_cross_entropy_with_logits(rng, dtype):
    x = (3 * rng.standard_normal((29, 5))).astype(dtype)
    return (x, _binary_target(rng, x.shape, dtype)), dict(weight=rng.random((29, 1)).astype(dtype),
                                                          pos_weight=rng.uniform(0.5, 3, 5).astype(dtype))


def _hinge_loss(rng, dtype):
    s = rng.standard_normal((29, 5)).astype(dtype)
    return (s, np.where(rng.random(s.shape) < 0.5, -1, 1).astype(dtype)), dict(margin=1.0, squared=False)


def _kl_div(rng, dtype):
    z = rng.standard_normal((29, 5))
    log_p = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(dtype)
    return (log_p, rng.dirichlet(np.ones(5), 29).astype(dtype)), dict(reduction="batchmean")


def _penalty(rng, dtype):
    """A model's parameters in miniature: arrays of several shapes (0-d too), one dtype."""
    shapes = ((5, 3), (17,), (), (2, 3, 4))
    return ([rng.standard_normal(s).astype(dtype) for s in shapes], 0.01), {}


def _regression(**kwargs):
    """(29, 5) predictions and a target per column (5,): the broadcast target."""
    def case(rng, dtype):
        x = rng.standard_normal((29, 5)).astype(dtype)
        return (x, rng.standard_normal(5).astype(dtype)), dict(kwargs)
    return case


def _critic_outputs(rng, dtype):
    """A discriminator's outputs on 16 real and 16 fake samples in different shapes
    (one batch axis, which the awkward tests cut; different lengths:
    tests/test_pointwise_gan.py)."""
    return rng.standard_normal((16, 2)).astype(dtype), rng.standard_normal(16).astype(dtype)


def _gan_case(pair, **kwargs):
    def case(rng, dtype):
        real, fake = _critic_outputs(rng, dtype)
        return ((real, fake) if pair else (fake,)), dict(kwargs)
    return case


def _margin_ranking_loss(rng, dtype):
    x1 = rng.standard_normal((29, 5)).astype(dtype)
    x2 = rng.standard_normal((29, 5)).astype(dtype)
    return (x1, x2, np.where(rng.random((29, 5)) < 0.5, -1, 1).astype(dtype)), dict(margin=0.3)


def _listwise(**kwargs):
    """(scores, relevance) of 9 lists of 7 items: graded relevance, padding (-1) at
    the end of one list and in the middle of another, one list all padding."""
    def case(rng, dtype):
        s = rng.standard_normal((9, 7)).astype(dtype)
        r = rng.integers(0, 4, (9, 7)).astype(dtype)
        r[1, 4:] = -1
        r[3, 2] = -1
        r[5] = -1
        return (s, r), dict(kwargs)
    return case


# ---- segmentation (dice_loss, tversky_loss): (N, C, H, W) logits and class maps

def _segmentation_case(**kwargs):
    def case(rng, dtype):
        x = (2 * rng.standard_normal((3, 4, 5, 6))).astype(dtype)
        t = rng.integers(0, 4, (3, 5, 6))
        t[t == 3] = 1                                  # class 3 absent: contributes 0
        # class 2 is ignored (pixels dropped from every count); without the option it counts
        return (x, t), dict(mode="multiclass", ignore_index=2, **kwargs)
    return case


def _crf(rng, dtype, B=6, T=7, K=4):
    """Emissions (B, T, K), tags, the transitions and a ragged mask (lengths T, 3, 1, ...)."""
    em = rng.standard_normal((B, T, K)).astype(dtype)
    tags = rng.integers(0, K, (B, T))
    tr, st, en = (rng.uniform(-0.5, 0.5, s).astype(dtype) for s in ((K, K), (K,), (K,)))
    lengths = np.array([T, 3, 1] + [T - 1] * (B - 3))[:B]
    return (em, tags, tr, st, en), np.arange(T)[None, :] < lengths[:, None]


def _crf_nll_loss(rng, dtype):
    args, mask = _crf(rng, dtype)
    return args, dict(mask=mask, reduction="token_mean")

# ---- metric learning ----------------------------------------------------------------

# Batches smaller than this raise (tests/test_properties.py draws no such batch
# but the empty one): one pair has no negative.
MIN_ROWS = {"nt_xent_loss": 2, "info_nce_loss": 2}
# At most this many rows in tests/test_properties.py: these references' work grows
# with the rows squared, or (ListMLE, CRF) more rows cost more test time than they add.
MAX_ROWS = {"listmle_loss": 256, "crf_nll_loss": 256, "nt_xent_loss": 256, "info_nce_loss": 256}


def _dot_length_scale(*lengths):
    """float32 results built from dot products of length K (BLAS matrix products,
    summed in another order than the float64 reference) differ by about K ulp:
    SPEC's float32 tolerance is scaled by K / 16 (at least 1)."""
    return max(1.0, max(lengths) / 16)


# Losses whose float32 results come from long dot products: their tolerance scale
# (tests/awkward.py compare), from the call's positional inputs.
F32_TOL_SCALE = {
    "linear_cross_entropy": lambda a: _dot_length_scale(a[0].shape[0], a[0].shape[-1], a[1].shape[0]),
    "nt_xent_loss": lambda a: _dot_length_scale(2 * a[0].shape[0], a[0].shape[-1]),
    "info_nce_loss": lambda a: _dot_length_scale(a[0].shape[0] + (a[2].shape[0] if len(a) > 2 and a[2] is not None
                                                                   else 0), a[0].shape[-1]),
}


def _triplet_margin_loss(rng, dtype):
    a, p, n = (rng.standard_normal((29, 6)).astype(dtype) for _ in range(3))
    return (a, p, n), dict(margin=0.8, swap=True)


# Wide embeddings: tests/test_concurrency.py resamples the rows to ~2^17
# elements, and the contrastive losses' work grows with the rows squared.
def _nt_xent_loss(rng, dtype):
    return tuple(rng.standard_normal((13, 512)).astype(dtype) for _ in range(2)), dict(temperature=0.5)


def _info_nce_loss(rng, dtype):
    q, k, neg = (rng.standard_normal(s).astype(dtype) for s in ((13, 512), (13, 512), (7, 512)))
    return (q, k, neg), dict(temperature=0.1)


def _linear_cross_entropy(rng, dtype):
    """(37, 6) hidden states and a (11, 6) classifier, some rows ignored (bias and
    chunk_size: tests/test_linear.py)."""
    h = rng.standard_normal((37, 6)).astype(dtype)
    w = (rng.standard_normal((11, 6)) / 2).astype(dtype)
    t = rng.integers(0, 11, 37)
    t[::5] = -100
    return (h, w, t), dict(label_smoothing=0.1)


CASES = {
    "l1_penalty": _penalty,
    "l2_penalty": _penalty,
    "dice_loss": _segmentation_case(smooth=0.5),
    "tversky_loss": _segmentation_case(alpha=0.3, beta=0.7, gamma=1.5),
    "cross_entropy": _cross_entropy,
    "softmax_focal_loss": _softmax_focal_loss,
    "nll_loss": _nll_loss,
    "multi_margin_loss": _multi_margin_loss,
    "sigmoid_focal_loss": _sigmoid_focal_loss,
    "binary_cross_entropy": _binary_cross_entropy,
    "binary_cross_entropy_with_logits": _binary_cross_entropy_with_logits,
    "hinge_loss": _hinge_loss,
    "kl_div": _kl_div,
    "mse_loss": _regression(),
    "l1_loss": _regression(),
    "huber_loss": _regression(delta=0.8),
    "smooth_l1_loss": _regression(beta=0.6),
    "rmse_loss": _regression(),
    "log_cosh_loss": _regression(),
    "quantile_loss": _regression(q=0.3),
    "lsgan_discriminator_loss": _gan_case(True, a=-0.5, b=1.0),
    "lsgan_generator_loss": _gan_case(False, c=0.9),
    "wasserstein_discriminator_loss": _gan_case(True),
    "wasserstein_generator_loss": _gan_case(False),
    "margin_ranking_loss": _margin_ranking_loss,
    "linear_cross_entropy": _linear_cross_entropy,
    "iou_loss": _box_case(),
    "giou_loss": _box_case(box_format="xyxy"),
    "diou_loss": _box_case(),
    "ciou_loss": _box_case(alpha="yolo"),
    "eiou_loss": _box_case(focal_gamma=0.5),
    "siou_loss": _box_case(theta=4.0),
    "wiou_loss": _box_case(),
    "listnet_loss": _listwise(),
    "listmle_loss": _listwise(),
    "approx_ndcg_loss": _listwise(alpha=2.0),
    "crf_nll_loss": _crf_nll_loss,
    "triplet_margin_loss": _triplet_margin_loss,
    "nt_xent_loss": _nt_xent_loss,
    "info_nce_loss": _info_nce_loss,
}


# ---- Loss-specific numerical edges (tests/test_edges.py; also run with absurd
# thread counts by tests/test_awkward.py). EDGES[name](dtype) -> list of
# (args, kwargs) or (args, kwargs, expect), expect a dict:
#   finite: the loss ("sum" and "none") and every gradient must be finite
#           (default: True when every float input is finite, else False).
# Wherever the loss is finite the gradient must hold no NaN, and the kernel
# must equal the reference (NaN where the reference has NaN). A loss without
# an entry shows as skipped in tests/test_edges.py.

def _wide_rows(dtype):
    x = np.linspace(-3, 3, 6 * 100).reshape(6, 100).astype(dtype)
    x[0, ::7] = 1e4
    x[1, 5] = np.inf
    x[2, 10] = -np.inf
    x[3, 50] = np.nan
    x[4] = 1e30 if np.dtype(dtype) == np.float64 else 3e34
    x[5] = -np.inf
    return x


def _edges_cross_entropy(dtype):
    f = np.dtype(dtype).type
    inf = np.inf
    big = f(1e4)
    sat = np.array([[big, -big, 0.0], [-big, big, -big], [big, big, big], [0.0, 0.0, 0.0]], dtype)
    t_sat = np.array([1, 0, 2, 1])
    out = [
        ((sat, t_sat), {}),                                               # saturated logits, wrong class
        ((sat, t_sat), dict(label_smoothing=0.2, weight=np.array([1, 2, 0.5], dtype))),
        ((sat, t_sat), dict(label_smoothing=1.0)),
        ((sat * f(3e34 / 1e4) if np.dtype(dtype) == np.float64 else sat * f(3e34 / 1e4), t_sat), {}),
        ((sat, np.full(4, -100)), {}),                                    # all ignored: mean NaN as torch
        ((sat, np.full(4, 7)), dict(ignore_index=7, label_smoothing=0.3)),
        ((sat, t_sat), dict(weight=np.zeros(3, dtype))),                  # zero total weight
        ((np.zeros((5, 1), dtype), np.zeros(5, np.int64)), {}),            # one class
        ((np.array([[-inf, 0.0, 1.0], [-inf, -inf, 3.0]], dtype), np.array([2, 2])), {}),
        ((np.array([[-inf, 0.0, 1.0], [-inf, -inf, 3.0]], dtype), np.array([0, 2])), {}),
        ((np.array([[-inf, 0.0, 1.0]], dtype), np.array([1])), dict(label_smoothing=0.1)),
        ((np.array([[inf, 0.0, 1.0], [inf, inf, 0.0]], dtype), np.array([0, 2])), {}),
        ((np.array([[-inf, -inf, -inf]], dtype), np.array([0])), {}),
        # probability targets: one-hot (probabilities 0 and 1), with saturated and -inf logits
        ((sat, np.eye(3, dtype=dtype)[t_sat]), {}),
        ((sat, np.eye(3, dtype=dtype)[t_sat]), dict(label_smoothing=0.5)),
        ((np.array([[-inf, 0.0, 1.0]], dtype), np.array([[0.0, 1.0, 0.0]], dtype)), {}),
        ((np.array([[-inf, 0.0, 1.0]], dtype), np.array([[0.5, 0.5, 0.0]], dtype)), {}),
        # spatial layout, saturated, some ignored
        ((np.stack([sat.T, -sat.T])[..., None].repeat(2, -1),                    # (2, 3, 4, 2)
          np.array([[[0, 1], [2, -100], [1, 1], [0, 2]], [[2, 2], [0, 0], [-100, 1], [1, 0]]])),
         dict(label_smoothing=0.1)),
        # rows wider than 47 classes (the row kernel; narrower rows take the
        # column kernel): saturated, +-inf, NaN, huge, all -inf
        ((_wide_rows(dtype), np.array([0, 5, 99, 50, 7, 3])), {}),
        ((_wide_rows(dtype), np.array([0, 5, 99, 50, 7, 3])), dict(label_smoothing=0.3)),
        ((_wide_rows(dtype), np.eye(100, dtype=dtype)[[0, 5, 99, 50, 7, 3]]), dict(label_smoothing=0.1)),
        # one long row (the split-row path runs it on several threads)
        ((np.linspace(-big, big, 40000).astype(dtype)[None], np.array([39999])), dict(label_smoothing=0.1)),
        ((np.linspace(-big, big, 2 * 40000).astype(dtype).reshape(2, -1), np.array([0, -100])), {}),
    ]
    return out


def _sat_logits(dtype):
    """(4, 3) logits: saturated at +-1e4, a uniform row of +1e4 and a zero row."""
    big = 1e4
    return np.array([[big, -big, 0.0], [-big, big, -big], [big, big, big], [0.0, 0.0, 0.0]], dtype)


def _edges_nll_loss(dtype):
    inf = np.inf
    lp = np.array([[0.0, -1e4, -inf], [-inf, 0.0, -inf], [-1e4, -1e4, -0.0], [-1.1, -1.1, -1.1]], dtype)
    t = np.array([0, 2, 1, 1])
    w = np.array([1, 2, 0.5], dtype)
    return [
        ((lp, t), {}),                                                    # log p = -inf at the target
        ((lp, np.array([0, 1, 2, 1])), dict(weight=w)),                   # finite at every target
        ((lp, np.full(4, -100)), {}),                                     # all ignored: mean NaN as torch
        ((lp, np.full(4, 2)), dict(ignore_index=2, weight=w)),
        ((lp, np.array([0, 1, 2, 1])), dict(weight=np.zeros(3, dtype))),  # zero total weight
        ((lp, np.array([0, 1, 2, 1])), dict(weight=np.array([0.0, 1.0, 0.0], dtype))),
        ((np.zeros((5, 1), dtype), np.zeros(5, np.int64)), {}),            # one class
        ((np.full((1, 4), -1e4, dtype), np.array([3])), {}),
        ((np.zeros((2, 3, 0), dtype), np.zeros((2, 0), np.int64)), {}),  # no positions
        ((lp.T[None].repeat(2, 0), np.array([[0, 1, -100, 2], [-100, -100, -100, -100]])), {}),
    ]


def _edges_softmax_focal_loss(dtype):
    inf = np.inf
    sat = _sat_logits(dtype)
    t = np.array([1, 0, 2, 1])
    right = np.array([0, 1, 2, 1])                                        # p_t -> 1 (saturated, correct)
    out = []
    for g in (0.0, 0.5, 1.0, 2.0, 5.0):
        out.append(((sat, t), dict(gamma=g)))
        out.append(((sat, right), dict(gamma=g, alpha=np.array([0.25, 1.0, 2.0], dtype))))
    out += [
        ((sat, np.full(4, -100)), {}),                                    # all ignored
        ((sat, right), dict(alpha=np.zeros(3, dtype))),                   # zero total weight
        ((np.zeros((5, 1), dtype), np.zeros(5, np.int64)), dict(gamma=0.5)),  # one class: p_t = 1
        ((np.array([[-inf, 0.0, 1.0], [-inf, -inf, 3.0]], dtype), np.array([2, 2])), dict(gamma=0.5)),
        ((np.array([[-inf, 0.0, 1.0]], dtype), np.array([0])), dict(gamma=2.0)),
        ((np.array([[inf, 0.0, 1.0]], dtype), np.array([1])), {}),
        ((sat.T[None].repeat(2, 0), np.array([[0, 1, -100, 2], [2, 2, 0, 1]])), dict(gamma=0.5)),
        ((np.zeros((0, 3), dtype), np.zeros(0, np.int64)), {}),
        ((_wide_rows(dtype), np.array([0, 5, 99, 50, 7, 3])), dict(gamma=0.5)),
        # gamma that float32 rounds to 0 or inf, at 1 - p_t = 0 and 1 exactly
        ((sat, t), dict(gamma=1e-300)),
        ((sat, right), dict(gamma=1e-300)),
        ((sat, t), dict(gamma=1e300)),
        ((sat, right), dict(gamma=1e300)),
    ]
    return out


def _edges_multi_margin_loss(dtype):
    inf = np.inf
    sat = _sat_logits(dtype)
    t = np.array([1, 0, 2, 1])
    w = np.array([1, 2, 0.5], dtype)
    out = [((sat, t), dict(p=p, margin=m)) for p in (1, 2) for m in (0.0, 1.0)]
    out += [
        ((sat, t), dict(weight=w, p=2)),
        ((sat, t), dict(weight=np.zeros(3, dtype))),
        ((np.zeros((5, 1), dtype), np.zeros(5, np.int64)), {}),            # one class: 0
        ((np.array([[1.0, 1.0, 1.0]], dtype), np.array([1])), dict(margin=0.0)),  # ties at the hinge
        ((np.array([[-inf, 0.0, 1.0]], dtype), np.array([2])), {}),
        ((np.array([[0.0, 0.0, 0.0]], dtype), np.array([0])), dict(weight=np.array([inf, 1, 1], dtype))),
        ((np.zeros((0, 3), dtype), np.zeros(0, np.int64)), {}),
    ]
    return out


def _binary_sat(dtype):
    """(3, 4) logits +-1e4, 0, +-inf with 0/1 targets in every combination."""
    inf = np.inf
    x = np.array([[1e4, -1e4, 1e4, -1e4], [0.0, 0.0, 30.0, -30.0], [inf, -inf, inf, -inf]], dtype)
    t = np.array([[1, 0, 0, 1], [1, 0, 1, 0], [1, 0, 0, 1]], dtype)
    return x, t


def _edges_sigmoid_focal_loss(dtype):
    x, t = _binary_sat(dtype)
    xf, tf = x[:2], t[:2]
    out = []
    for g in (0.0, 0.5, 1.0, 2.0, 5.0):
        out.append(((xf, tf), dict(gamma=g)))                             # saturated, finite
        out.append(((x, t), dict(gamma=g, alpha=-1.0)))                   # +-inf logits
    out += [
        ((xf, np.full_like(tf, 0.5)), dict(gamma=0.5)),                   # soft target 1/2
        ((xf, tf), dict(alpha=0.0)),
        ((xf, tf), dict(alpha=1.0, gamma=2.5)),
        ((np.zeros((0, 3), dtype), np.zeros((0, 3), dtype)), {}),
        ((np.full(1, 1e4, dtype), np.ones(1, dtype)), dict(gamma=0.0)),
        # gamma that float32 rounds to 0 or inf, at 1 - p_t = 0 and 1 exactly
        ((x, t), dict(gamma=1e-300)),
        ((x, t), dict(gamma=1e300)),
        # targets outside [0, 1] (torchvision accepts them): 1 - p_t < 0
        ((xf, np.full_like(tf, -0.5)), dict(gamma=2.0)),
        ((xf, np.full_like(tf, 2.0)), dict(gamma=20.0)),
    ]
    return out


def _edges_binary_cross_entropy(dtype):
    p = np.array([[0.0, 1.0, 0.0, 1.0], [1e-30, 1 - 1e-7, 0.5, 1e-45]], dtype)
    t = np.array([[0, 1, 1, 0], [1, 0, 0.5, 1]], dtype)
    return [
        ((p, t), {}),                                                     # probabilities exactly 0 and 1
        ((p, t), dict(weight=np.array([0.0, 1.0, 2.0, 0.0], dtype))),
        ((p, np.full_like(t, 0.5)), {}),
        ((p, t), dict(weight=np.array([np.inf, 1.0, 1.0, 1.0], dtype))),
        ((np.zeros((0, 4), dtype), np.zeros((0, 4), dtype)), {}),
    ]


def _edges_binary_cross_entropy_with_logits(dtype):
    x, t = _binary_sat(dtype)
    xf, tf = x[:2], t[:2]
    return [
        ((xf, tf), {}),
        ((x, t), {}),                                                     # +-inf logits: finite gradient
        ((xf, tf), dict(pos_weight=np.array([0.0, 1.0, 3.0, 1e4], dtype))),
        ((x, t), dict(weight=np.array([[0.0], [1.0], [2.0]], dtype), pos_weight=np.full(4, 2.0, dtype))),
        ((xf, np.full_like(tf, 0.5)), dict(weight=np.zeros(4, dtype))),
        ((np.zeros((0, 4), dtype), np.zeros((0, 4), dtype)), {}),
    ]


def _edges_kl_div(dtype):
    inf = np.inf
    lp = np.array([[0.0, -inf, -1e4], [-0.7, -0.7, -1e4]], dtype)
    t = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype)               # probabilities 0 and 1
    with np.errstate(divide="ignore"):
        lt = np.log(t)
    return [
        ((lp, t), {}),
        ((lp, t), dict(reduction="batchmean")),
        ((lp[:, [0, 2]], t[:, [0, 2]]), {}),
        ((lp, lt), dict(log_target=True)),                                # log target -inf: term 0
        ((np.full((2, 3), -1e4, dtype), t), dict(reduction="batchmean")),
        ((np.full((2, 3), -1e4, dtype), lt), dict(log_target=True)),
        ((np.zeros((0, 3), dtype), np.zeros((0, 3), dtype)), {}),
        # batchmean of no samples: 0 / 0 = NaN, as torch
        ((np.zeros((0, 3), dtype), np.zeros((0, 3), dtype)), dict(reduction="batchmean"), dict(finite=False)),
    ]


def _edges_hinge_loss(dtype):
    s = np.array([[1e4, -1e4, 1.0, -1.0], [1.0, -1.0, 0.0, np.inf]], dtype)
    t = np.array([[1, -1, -1, 1], [1, -1, 1, -1]], dtype)
    sf = s[:, :3]
    return [
        ((sf, t[:, :3]), {}),                                             # on the hinge (z = 0) and saturated
        ((sf, t[:, :3]), dict(squared=True)),
        ((sf, (t[:, :3] > 0).astype(dtype)), dict(margin=0.0)),           # 0/1 labels
        ((s, t), dict(squared=True)),
        ((np.zeros((0, 3), dtype), np.zeros((0, 3), dtype)), {}),
    ]


def _edges_penalty(dtype):
    big = np.sqrt(np.finfo(dtype).max) * 4                          # squares overflow the dtype
    w = np.array([[0.0, -0.0, 1.0], [-2.5, 1e-30, 3.0]], dtype)       # zeros of both signs: l1 grad 0
    return [
        (([], 0.5), {}),                                              # nothing: 0, no gradients
        (([np.zeros((0, 3), dtype), w, np.zeros(0, dtype)], 0.5), {}),  # zero-size arrays in the list
        (([w, w[::-1]], 0.0), {}),                                    # lam 0
        (([w, np.array([np.inf, -np.inf, 1.0], dtype)], 2.0), {}),    # inf propagates
        (([np.array([np.nan, 1.0], dtype), w], 2.0), {}),             # NaN propagates (l1 grad NaN too)
        (([np.full(3, big, dtype)], 1.0), {}, dict(finite=False)),    # l2 of float32 overflows
        (([np.full((3, 40000), -1.5, dtype)] + [w] * 5, 1e-3), {}),   # several blocks, many arrays
    ]


def _regression_edges(squares=False, **kwargs):
    """Errors 0, +-1e4, +-1e30 (float32: 3e34; losses that square the error:
    1e15, whose square stays finite), +-inf and NaN, with full, per-column and
    scalar targets, and no elements."""
    def edges(dtype):
        big = 1e15 if squares else 1e30 if np.dtype(dtype) == np.float64 else 3e34
        x = np.array([[0.0, 1e4, -1e4, 1.0], [big, -big, 0.5, -0.5]], dtype)
        t = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, -0.5, 0.5]], dtype)
        xi = np.array([[np.inf, -np.inf, 0.0], [np.nan, 1.0, np.inf]], dtype)
        return [
            ((x, t), dict(kwargs)),
            ((x, t[0]), dict(kwargs)),
            ((x, np.array(0.5, dtype)), dict(kwargs)),
            ((xi, np.array([0.0, np.inf, 1.0], dtype)), dict(kwargs)),
            ((np.zeros((0, 4), dtype), np.zeros(4, dtype)), dict(kwargs)),
        ]
    return edges


def _gan_edges(pair, **kwargs):
    """Outputs +-1e15 (squares stay finite), +-inf and NaN; no fake samples (a mean of
    nothing: NaN)."""
    def edges(dtype):
        r = np.array([[1e15], [-1e15], [0.0]], dtype)
        f = np.array([np.inf, -1.0, np.nan, 2.0], dtype)
        empty = np.zeros(0, dtype)
        if not pair:
            return [((r,), dict(kwargs)), ((f,), dict(kwargs)), ((empty,), dict(kwargs), dict(finite=False))]
        return [((r, r[:2, 0]), dict(kwargs)), ((r, f), dict(kwargs)),
                ((r, empty), dict(kwargs), dict(finite=False))]
    return edges


def _edges_margin_ranking_loss(dtype):
    x1 = np.array([[1.0, 0.0, 1e4, -1e4], [0.5, 2.0, np.inf, 0.0]], dtype)
    x2 = np.array([[1.0, 1.0, 0.0, 0.0], [0.5, -2.0, 0.0, np.nan]], dtype)
    y = np.array([[1, -1, 1, -1], [-1, 1, -1, 1]], dtype)
    return [
        ((x1[:, :2], x2[:, :2], y[:, :2]), dict(margin=0.0)),             # on the kink (z = 0)
        ((x1[:, :2], x2[:, :2], y[:, :2]), dict(margin=-1.0)),
        ((x1, x2, y), dict(margin=0.5)),
        ((x1, x2, y[:1]), dict(margin=1.0)),                              # y broadcast
        ((np.zeros((0, 3), dtype), np.zeros((0, 3), dtype), np.zeros((0, 3), dtype)), {}),
    ]


def _edges_listwise(**kwargs):
    """Huge, infinite and NaN scores, infinite relevance, ties everywhere, lists
    of one item, all padding, a mask."""
    def edges(dtype):
        big = 1e30 if np.dtype(dtype) == np.float64 else 3e34
        s = np.array([[0.0, 1e4, -1e4, 2.0], [big, -big, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0],
                      [np.inf, 0.0, 1.0, 2.0], [np.nan, 0.0, 1.0, 2.0], [0.5, -np.inf, 1.0, 0.0]], dtype)
        r = np.array([[2, 0, 1, 3], [1, 2, 0, 0], [1, 1, 1, 1], [1, 0, 2, 0], [0, 1, 2, 3], [3, 2, 1, 0]], dtype)
        rinf = r.copy()
        rinf[0, 1] = np.inf
        mask = np.array([[1, 1, 0, 1]] * 6, bool)
        return [
            ((s[:3], r[:3]), dict(kwargs)),
            ((s, r), dict(kwargs)),
            ((s[:3], rinf[:3]), dict(kwargs)),
            ((s[:3], r[:3]), dict(kwargs, mask=mask[:3])),
            ((s[:2, :1], r[:2, :1]), dict(kwargs)),                           # one item per list
            ((s[:2], np.full((2, 4), -1, dtype)), dict(kwargs)),             # all padding
            ((np.zeros((0, 4), dtype), np.zeros((0, 4), dtype)), dict(kwargs)),
        ]
    return edges
def _edges_linear_cross_entropy(dtype):
    """Logits of +-1e4 (a saturated softmax), +-inf and NaN hidden values, every
    row ignored (a mean of nothing: NaN), no rows, one class."""
    h = np.array([[1e2, 0.0], [-1e2, 1.0], [0.0, 0.0], [1.0, -1.0]], dtype)
    w = np.array([[1e2, 0.0], [0.0, 1.0], [-1.0, 1e2]], dtype)
    t = np.array([0, 2, -100, 1])
    hi = h.copy()
    hi[0, 1], hi[3, 0] = np.inf, np.nan
    return [
        ((h, w, t), dict(label_smoothing=0.2)),
        ((h, w, t), dict(bias=np.array([0.0, -1e4, 1e4], dtype), chunk_size=3)),
        ((hi, w, t), {}),
        ((h, w, np.full(4, -100)), {}, dict(finite=False)),
        ((h[:0], w, t[:0]), {}, dict(finite=False)),
        ((h, w[:1], np.zeros(4, np.int64)), dict(chunk_size=1)),
    ]


# Boxes (pred, target) in corners: each kind of degenerate box the IoU issue
# lists, and torchvision's corner cases around them (tests/test_box*.py).
BOX_DEGENERATE = {
    "zero width pred": ([1, 1, 1, 3], [0, 0, 2, 2]),
    "zero height pred": ([1, 1, 3, 1], [0, 0, 2, 2]),
    "zero size target": ([0, 0, 2, 2], [1, 1, 1, 1]),
    "zero width both": ([1, 0, 1, 2], [1, 1, 1, 3]),
    "zero height both": ([0, 1, 2, 1], [1, 1, 3, 1]),
    "identical": ([0.5, 1.25, 3, 4], [0.5, 1.25, 3, 4]),
    "identical zero height": ([1, 1, 3, 1], [1, 1, 3, 1]),
    "coincident centres": ([0, 0, 4, 2], [1, -1, 3, 3]),
    "coincident centres, same size": ([0, 0, 4, 2], [0, 0, 4, 2.5]),
    "nested": ([0, 0, 10, 10], [2, 3, 5, 7]),
    "touching edges": ([0, 0, 1, 1], [1, 0, 2, 1]),
    "shared edges": ([0, 0, 2, 1], [0, 0, 1, 1]),
    "inverted pred": ([3, 3, 1, 1], [0, 0, 2, 2]),
    "inverted x": ([3, 0, 1, 2], [0, 0, 2, 2]),
    "inverted both": ([2, 2, 0, 0], [2, 2, 0, 0]),
    "inverted, zero union": ([0, 0, -1e-7, 1], [0, 0, 0, 0]),
    "all zero": ([0, 0, 0, 0], [0, 0, 0, 0]),
    "all zero pred": ([0, 0, 0, 0], [0, 0, 2, 2]),
    "huge coordinates": ([1e6, 1e6, 1e6 + 30, 1e6 + 20], [1e6 + 5, 1e6 - 3, 1e6 + 28, 1e6 + 25]),
    "huge boxes": ([0, 0, 1e6, 1e6], [1e5, 2e5, 1.5e6, 9e5]),
    "huge distance": ([-1e6, -1e6, -1e6 + 1, -1e6 + 1], [1e6, 1e6, 1e6 + 2, 1e6 + 3]),
}


def box_to_format(xyxy, box_format):
    """Corner boxes (..., 4) in box_format."""
    x1, y1, x2, y2 = np.moveaxis(np.asarray(xyxy), -1, 0)
    if box_format == "xywh":
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)
    if box_format == "cxcywh":
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)
    return np.asarray(xyxy)


def _edges_boxes(*option_sets):
    """The degenerate boxes in every format (finite losses and gradients
    required), and boxes holding +-inf and NaN (IEEE propagation), for each
    option set. Without "inverted, zero union": U + eps is exactly 0 in
    float32 (the kernel's eps is float32(1e-7)) but not in the float64
    reference, so the two take different branches there (test_box*.py
    check it for finiteness)."""
    cases = [v for k, v in BOX_DEGENERATE.items() if k != "inverted, zero union"]

    def edges(dtype):
        pred = np.array([p for p, _ in cases], np.float64)
        target = np.array([t for _, t in cases], np.float64)
        out = []
        for options in option_sets:
            for fmt in ("xyxy", "xywh", "cxcywh"):
                out.append(((box_to_format(pred, fmt).astype(dtype), box_to_format(target, fmt).astype(dtype)),
                            dict(options, box_format=fmt)))
            p, t = pred.astype(dtype), target.astype(dtype)
            p[1, 2], t[2, 3], t[5, 0], p[9, 1] = np.inf, np.inf, -np.inf, np.nan
            out.append(((p, t), dict(options)))
        return out
    return edges


def _edges_segmentation(**kw):
    """Saturated and infinite logits, probabilities exactly 0 and 1 (perfect
    scores), every pixel ignored, empty batches, soft and hard masks."""
    def edges(dtype):
        sat = np.array([[[1e4, -1e4], [-1e4, 1e4]], [[-1e4, 1e4], [1e4, -1e4]]], dtype)   # (2, 2, 2)
        t = np.array([[0, 1], [1, 0]])
        onehot = np.stack([t == 0, t == 1], axis=1).astype(dtype)
        inf = sat.copy()
        inf[0, 0, 0] = np.inf
        mask = np.array([[[1, 0], [0.5, 1]], [[0, 0], [0, 0]]], dtype)
        return [
            ((sat, t), dict(mode="multiclass", **kw)),                                   # saturated softmax
            ((onehot, t), dict(mode="multiclass", from_logits=False, **kw)),             # perfect: loss 0
            ((onehot, t), dict(mode="multiclass", from_logits=False, per_image=True, **kw)),
            ((sat, np.full_like(t, 7)), dict(mode="multiclass", ignore_index=7, **kw)),  # all ignored
            ((sat, onehot), dict(mode="multilabel", **kw)),                              # saturated sigmoid
            ((sat, mask), dict(mode="multilabel", smooth=1.0, **kw)),                    # soft mask
            ((sat[:, :1], mask[:, :1]), dict(mode="binary", eps=0.0, smooth=1.0, **kw)),
            ((inf, t), dict(mode="multiclass", **kw), dict(finite=False)),               # inf logit: NaN
            ((inf, onehot), dict(mode="multilabel", **kw)),                              # sigmoid(inf) = 1
            ((np.zeros((0, 3, 2), dtype), np.zeros((0, 2), np.int64)), dict(mode="multiclass", **kw)),
            ((np.zeros((2, 3, 0), dtype), np.zeros((2, 0), np.int64)), dict(mode="multiclass", **kw)),
        ]
    return edges
def _edges_crf_nll_loss(dtype):
    """Transitions of -1e4 (forbidden moves; the exact log-sum-exp columns), one
    tag, a -inf emission, NaN emissions (their sequence's loss), no sequences."""
    rng = np.random.default_rng(5)
    (em, tags, tr, st, en), mask = _crf(rng, dtype, B=4, T=6, K=3)
    forbid = tr.copy()
    forbid[[0, 1, 2], [1, 2, 0]] = -1e4
    far = np.full_like(tr, -1e4)
    far[np.arange(3), np.arange(3)] = 0.0
    em_inf, em_nan = em.copy(), em.copy()
    em_inf[1, 0, 2] = -np.inf
    em_nan[0, 2, 1] = np.nan
    one = lambda a: np.ascontiguousarray(a[..., :1])
    return [
        ((em, tags, forbid, st, en), dict(mask=mask)),
        ((em, np.where(mask, 0, -1), far, st, en), dict(mask=mask, reduction="sum")),
        ((em, tags, tr, np.full_like(st, -1e4), en), dict(mask=mask)),
        ((one(em), np.where(mask, 0, -1), tr[:1, :1], st[:1], en[:1]), dict(mask=mask)),
        ((em_inf, np.where(mask, 0, 0), tr, st, en), dict(mask=mask)),
        ((em_nan, tags, tr, st, en), dict(mask=mask, reduction="none")),
        ((em[:0], tags[:0], tr, st, en), dict(reduction="sum")),
    ]



def _edges_triplet_margin_loss(dtype):
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1e4, -1e4, 0.0], [1.0, np.inf, 0.0]], dtype)
    p = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1e4, -1e4, 1.0], [1.0, 0.0, 0.0]], dtype)
    n = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [-1e4, 1e4, 0.0], [1.0, 0.0, np.nan]], dtype)
    return [
        ((a[:3], p[:3], n[:3]), dict(eps=0.0)),                     # zero distances: finite gradients
        ((a[:3], p[:3], n[:3]), dict(eps=0.0, swap=True, p=1.0)),
        ((a[:3], p[:3], n[:3]), dict(p=0.5, margin=2.0)),
        ((a, p, n), dict(swap=True)),                                 # inf and NaN propagate
        ((np.zeros((0, 3), dtype),) * 3, {}),
    ]


def _edges_contrastive(name):
    def edges(dtype):
        z = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 1e-30, 0.0]], dtype)
        big = np.array([[1e30, 0.0, 0.0], [0.0, -1e30, 1.0], [3.0, 4.0, 0.0], [0.0, 0.0, 1.0]], dtype)
        nan = big.copy()
        nan[1, 1] = np.nan
        extra = (z[:2],) if name == "info_nce_loss" else ()
        return [
            ((z, z[::-1]) + extra, dict(temperature=0.05)),           # zero rows, identical rows
            ((big, z) + extra, dict(temperature=0.02)),               # logits up to 50: exp shifted by the max
            ((big, nan) + extra, {}),                                 # NaN propagates
        ]
    return edges


EDGES = {
    "l1_penalty": _edges_penalty,
    "l2_penalty": _edges_penalty,
    "dice_loss": _edges_segmentation(),
    "tversky_loss": _edges_segmentation(alpha=0.2, beta=0.9, gamma=0.5),
    "cross_entropy": _edges_cross_entropy,
    "nll_loss": _edges_nll_loss,
    "softmax_focal_loss": _edges_softmax_focal_loss,
    "multi_margin_loss": _edges_multi_margin_loss,
    "sigmoid_focal_loss": _edges_sigmoid_focal_loss,
    "binary_cross_entropy": _edges_binary_cross_entropy,
    "binary_cross_entropy_with_logits": _edges_binary_cross_entropy_with_logits,
    "kl_div": _edges_kl_div,
    "hinge_loss": _edges_hinge_loss,
    "mse_loss": _regression_edges(squares=True),
    "l1_loss": _regression_edges(),
    "huber_loss": _regression_edges(delta=0.5),
    "smooth_l1_loss": _regression_edges(beta=0.0),
    "rmse_loss": _regression_edges(squares=True),
    "log_cosh_loss": _regression_edges(),
    "quantile_loss": _regression_edges(q=0.0),
    "lsgan_discriminator_loss": _gan_edges(True, a=0.0, b=1.0),
    "lsgan_generator_loss": _gan_edges(False),
    "wasserstein_discriminator_loss": _gan_edges(True),
    "wasserstein_generator_loss": _gan_edges(False),
    "margin_ranking_loss": _edges_margin_ranking_loss,
    "linear_cross_entropy": _edges_linear_cross_entropy,
    "iou_loss": _edges_boxes({}),
    "giou_loss": _edges_boxes({}),
    "diou_loss": _edges_boxes({}),
    "ciou_loss": _edges_boxes({}, {"alpha": "yolo"}),
    "eiou_loss": _edges_boxes({}, {"focal_gamma": 0.5}),
    "siou_loss": _edges_boxes({}, {"theta": 1.0}),
    "wiou_loss": _edges_boxes({}),
    "listnet_loss": _edges_listwise(),
    "listmle_loss": _edges_listwise(),
    "approx_ndcg_loss": _edges_listwise(alpha=3.0),
    "crf_nll_loss": _edges_crf_nll_loss,
    "triplet_margin_loss": _edges_triplet_margin_loss,
    "nt_xent_loss": _edges_contrastive("nt_xent_loss"),
    "info_nce_loss": _edges_contrastive("info_nce_loss"),
}


# ---- Optional peers for the edges (tests/test_edges.py): PEERS[name](args,
# kwargs) -> the peer's loss (NumPy) for the same call, or None when the peer
# has no equivalent of these arguments. Torch is imported lazily, so this file
# loads without it. With an entry, the kernel's loss may be NaN only where the
# peer's is, and must equal it elsewhere.

def _peer_cross_entropy(args, kwargs):
    import torch
    import torch.nn.functional as F
    x, t = args
    kw = dict(kwargs)
    kw.pop("return_grad", None)
    kw.pop("n_threads", None)
    if "weight" in kw:
        kw["weight"] = torch.from_numpy(np.ascontiguousarray(kw["weight"]))
    xt = torch.from_numpy(np.ascontiguousarray(x))
    tt = torch.from_numpy(np.ascontiguousarray(t if t.dtype.kind == "f" else t.astype(np.int64)))
    return F.cross_entropy(xt, tt, **kw).numpy()


def _torch_call(fn_name, tensor_kwargs=("weight", "pos_weight")):
    """A peer that calls torch.nn.functional.<fn_name>(x, t, **kwargs) with the
    lossk-only keywords removed and the array keywords as tensors."""
    def peer(args, kwargs):
        import torch
        import torch.nn.functional as F
        x, t = (np.ascontiguousarray(a) for a in args)
        kw = {k: v for k, v in kwargs.items() if k not in ("return_grad", "n_threads", "grad_out")}
        for k in tensor_kwargs:
            if k in kw and kw[k] is not None:
                kw[k] = torch.from_numpy(np.ascontiguousarray(kw[k]))
        tt = torch.from_numpy(t if t.dtype.kind == "f" else t.astype(np.int64))
        with warnings.catch_warnings():  # kl_div's "mean" announces a future change
            warnings.simplefilter("ignore", UserWarning)
            return getattr(F, fn_name)(torch.from_numpy(x), tt, **kw).numpy()
    return peer


def _peer_multi_margin_loss(args, kwargs):
    # torch 2.13's multi_margin_loss of an empty batch returns uninitialised
    # memory (sum 1e14, mean 1e-313 observed); lossk gives 0 and NaN (SPEC 1)
    if np.asarray(args[0]).size == 0:
        return None
    return _torch_call("multi_margin_loss")(args, kwargs)


def _peer_sigmoid_focal_loss(args, kwargs):
    """torchvision.ops.sigmoid_focal_loss, its formula in torch ops (torchvision
    is not a test dependency)."""
    import torch
    import torch.nn.functional as F
    x, t = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
    alpha, gamma = kwargs.get("alpha", 0.25), kwargs.get("gamma", 2.0)
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    red = kwargs.get("reduction", "mean")
    return (loss.mean() if red == "mean" else loss.sum() if red == "sum" else loss).numpy()


def _peer_box(name):
    """lossk._bench.box_torch's formula for lossk.<name> (torchvision's for GIoU,
    DIoU and CIoU, written in torch ops; the papers' for the others)."""
    def peer(args, kwargs):
        import torch

        from lossk._bench import box_torch
        pred, target = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
        kw = dict(kwargs)
        for key in ("return_grad", "n_threads"):
            kw.pop(key, None)
        reduction, box_format = kw.pop("reduction", "mean"), kw.pop("box_format", "xyxy")
        with torch.no_grad():
            per_box = box_torch.ORACLES[name](box_torch.to_corners(pred, box_format),
                                              box_torch.to_corners(target, box_format), **kw)
        return {"none": per_box, "sum": per_box.sum(), "mean": per_box.mean()}[reduction].numpy()
    return peer


def _peer_margin_ranking_loss(args, kwargs):
    import torch
    import torch.nn.functional as F
    x1, x2, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
    return F.margin_ranking_loss(x1, x2, y.expand_as(x1), margin=kwargs.get("margin", 0.0),
                                 reduction=kwargs.get("reduction", "mean")).numpy()


def _peer_listwise(name):
    """allRank's formula for lossk.<name> in torch (lossk._bench.listwise_torch).
    ListNet's lists that are all padding: allRank gives NaN, lossk 0 (documented),
    so those lists' losses are taken as 0 before the reduction."""
    def peer(args, kwargs):
        import torch

        from lossk._bench import listwise_torch
        s, r = (np.ascontiguousarray(a) for a in args)
        kw = {k: v for k, v in kwargs.items() if k not in ("return_grad", "n_threads", "grad_out")}
        mask = kw.pop("mask", None)
        real = (r != -1) & (True if mask is None else mask)
        empty = ~real.any(axis=1) if name == "listnet_loss" and s.shape[0] else None
        reduction = kw.get("reduction", "mean")
        if empty is not None and empty.any():
            kw["reduction"] = "none"
        if mask is not None:
            kw["mask"] = torch.from_numpy(np.ascontiguousarray(mask))
        with torch.no_grad():
            out = listwise_torch.ORACLES[name](torch.from_numpy(s), torch.from_numpy(r), **kw).numpy()
        if empty is None or not empty.any():
            return out
        out = np.where(empty, 0, out).astype(out.dtype)
        return out.mean() if reduction == "mean" else out.sum() if reduction == "sum" else out
    return peer


def _peer_segmentation(cls):
    """SMP's DiceLoss / TverskyLoss (lossk._bench.smp_losses) for a "mean" of
    batch-wide counts; None where SMP has no equivalent (per_image, "none")."""
    def peer(args, kwargs):
        import torch

        from lossk._bench import smp_losses
        kw = dict(kwargs)
        for key in ("return_grad", "n_threads"):
            kw.pop(key, None)
        if kw.pop("reduction", "mean") != "mean" or kw.pop("per_image", False):
            return None
        x, t = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
        if x.numel() == 0:                   # SMP's one_hot needs a class count to infer from
            return None
        with torch.no_grad():
            return getattr(smp_losses.load(), cls)(kw.pop("mode"), **kw)(x, t).numpy()
    return peer


def _peer_crf_nll_loss(args, kwargs):
    """-torchcrf.CRF.forward (pytorch-crf, batch first) with the given parameters, in
    float64: pytorch-crf's float32 sums lose the emissions next to start
    transitions of -1e4 (ulp 1e-3), which lossk's float64 accumulation keeps."""
    torchcrf = pytest_importorskip("torchcrf")
    import torch
    em, tags, tr, st, en = (np.ascontiguousarray(a, np.float64 if a.dtype.kind == "f" else None) for a in args)
    if em.shape[0] == 0:
        return None                       # pytorch-crf cannot index the first step of no sequences
    crf = torchcrf.CRF(em.shape[2], batch_first=True).to(torch.from_numpy(em).dtype)
    with torch.no_grad():
        for name, value in (("transitions", tr), ("start_transitions", st), ("end_transitions", en)):
            getattr(crf, name).copy_(torch.from_numpy(value))
        mask = kwargs.get("mask")
        mask = None if mask is None else torch.from_numpy(np.asarray(mask, bool))
        llh = crf(torch.from_numpy(em), torch.from_numpy(tags.astype(np.int64)), mask,
                  reduction=kwargs.get("reduction", "mean"))
    return (-llh).numpy()


def pytest_importorskip(name):
    import pytest
    return pytest.importorskip(name)

def _peer_triplet_margin_loss(args, kwargs):
    import torch
    import torch.nn.functional as F
    kw = {k: v for k, v in kwargs.items() if k not in ("return_grad", "n_threads", "grad_out")}
    return F.triplet_margin_loss(*(torch.from_numpy(np.ascontiguousarray(a)) for a in args), **kw).numpy()
def _peer_linear_cross_entropy(args, kwargs):
    import torch
    import torch.nn.functional as F
    h, w, t = (torch.from_numpy(np.ascontiguousarray(a)) for a in args)
    b = kwargs.get("bias")
    logits = F.linear(h, w, None if b is None else torch.from_numpy(np.ascontiguousarray(b)))
    return F.cross_entropy(logits, t.long(), ignore_index=kwargs.get("ignore_index", -100),
                           label_smoothing=kwargs.get("label_smoothing", 0.0),
                           reduction=kwargs.get("reduction", "mean")).numpy()


PEERS = {
    "cross_entropy": _peer_cross_entropy,
    "nll_loss": _torch_call("nll_loss"),
    "multi_margin_loss": _peer_multi_margin_loss,
    "sigmoid_focal_loss": _peer_sigmoid_focal_loss,
    "binary_cross_entropy": _torch_call("binary_cross_entropy"),
    "binary_cross_entropy_with_logits": _torch_call("binary_cross_entropy_with_logits"),
    "kl_div": _torch_call("kl_div"),
    "mse_loss": _torch_call("mse_loss"),
    "l1_loss": _torch_call("l1_loss"),
    "huber_loss": _torch_call("huber_loss"),
    "smooth_l1_loss": _torch_call("smooth_l1_loss"),
    "margin_ranking_loss": _peer_margin_ranking_loss,
    "dice_loss": _peer_segmentation("DiceLoss"),
    "tversky_loss": _peer_segmentation("TverskyLoss"),
    "linear_cross_entropy": _peer_linear_cross_entropy,
    **{name: _peer_box(name) for name in family("box")},
    **{name: _peer_listwise(name) for name in family("listwise")},
    "crf_nll_loss": _peer_crf_nll_loss,
    "triplet_margin_loss": _peer_triplet_margin_loss,
}
