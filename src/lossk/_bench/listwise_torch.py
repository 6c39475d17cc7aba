"""allRank's listwise losses in torch ops, differentiated by torch autograd: the
peers of the listwise benchmarks and tests. allRank is not installable as a
usable package, so its formulas are transcribed here from
allegro/allRank allrank/models/losses/{listNet,listMLE,approxNDCG}.py
(DEFAULT_EPS = 1e-10 and PADDED_Y_VALUE = -1 from allrank/models/losses/__init__.py
and allrank/data/dataset_loading.py), with two changes:

* listMLE shuffles the items with torch.randperm before its sort, so ties of
  relevance fall in a random order; here the sort is stable instead (lossk's
  deterministic rule);
* approxNDCGLoss computes its discounts log2(1 + k) from `.float()` positions,
  in float32 even for float64 scores; here they follow the scores' dtype.

A `mask` (True = a real item) is applied as allRank would see it: relevance -1
where the mask is False. Each function returns allRank's mean over the lists,
or with reduction="sum"/"none" the sum / the per-list losses of the same
formula. Imports torch when called (the benchmark package loads without it).
"""
DEFAULT_EPS = 1e-10
PADDED_Y_VALUE = -1


def _padded(y_true, mask):
    import torch
    return y_true if mask is None else torch.where(mask, y_true, torch.full_like(y_true, PADDED_Y_VALUE))


def _reduce(per_list, reduction):
    return per_list.mean() if reduction == "mean" else per_list.sum() if reduction == "sum" else per_list


def listnet(y_pred, y_true, mask=None, eps=DEFAULT_EPS, reduction="mean"):
    import torch
    import torch.nn.functional as F
    y_pred = y_pred.clone()
    y_true = _padded(y_true, mask).clone()
    pad = y_true == PADDED_Y_VALUE
    y_pred[pad] = float("-inf")
    y_true[pad] = float("-inf")
    preds_smax = F.softmax(y_pred, dim=1)
    true_smax = F.softmax(y_true, dim=1)
    preds_log = torch.log(preds_smax + eps)
    return _reduce(-torch.sum(true_smax * preds_log, dim=1), reduction)


def listmle(y_pred, y_true, mask=None, eps=DEFAULT_EPS, reduction="mean"):
    import torch
    y_true = _padded(y_true, mask)
    y_true_sorted, indices = y_true.sort(descending=True, stable=True, dim=-1)   # allRank: randperm first
    pad = y_true_sorted == PADDED_Y_VALUE
    preds_sorted_by_true = torch.gather(y_pred, dim=1, index=indices)
    preds_sorted_by_true[pad] = float("-inf")
    max_pred_values, _ = preds_sorted_by_true.max(dim=1, keepdim=True)
    preds_minus_max = preds_sorted_by_true - max_pred_values
    cumsums = torch.cumsum(preds_minus_max.exp().flip(dims=[1]), dim=1).flip(dims=[1])
    observation_loss = torch.log(cumsums + eps) - preds_minus_max
    observation_loss[pad] = 0.0
    return _reduce(torch.sum(observation_loss, dim=1), reduction)


def approx_ndcg(y_pred, y_true, mask=None, eps=DEFAULT_EPS, alpha=1.0, reduction="mean"):
    import torch
    y_pred = y_pred.clone()
    y_true = _padded(y_true, mask).clone()
    pad = y_true == PADDED_Y_VALUE
    y_pred[pad] = float("-inf")
    y_true[pad] = float("-inf")
    y_pred_sorted, indices_pred = y_pred.sort(descending=True, dim=-1)
    y_true_sorted, _ = y_true.sort(descending=True, dim=-1)
    true_sorted_by_preds = torch.gather(y_true, dim=1, index=indices_pred)
    true_diffs = true_sorted_by_preds[:, :, None] - true_sorted_by_preds[:, None, :]
    padded_pairs_mask = torch.isfinite(true_diffs)
    padded_pairs_mask.diagonal(dim1=-2, dim2=-1).zero_()
    true_sorted_by_preds.clamp_(min=0.)
    y_true_sorted.clamp_(min=0.)
    pos_idxs = torch.arange(1, y_pred.shape[1] + 1, dtype=y_pred.dtype)   # allRank: .float()
    D = torch.log2(1. + pos_idxs)[None, :]
    maxDCGs = torch.sum((torch.pow(2, y_true_sorted) - 1) / D, dim=-1).clamp(min=eps)
    G = (torch.pow(2, true_sorted_by_preds) - 1) / maxDCGs[:, None]
    scores_diffs = y_pred_sorted[:, :, None] - y_pred_sorted[:, None, :]
    scores_diffs[~padded_pairs_mask] = 0.
    approx_pos = 1. + torch.sum(padded_pairs_mask.to(y_pred.dtype) *
                                (torch.sigmoid(-alpha * scores_diffs).clamp(min=eps)), dim=-1)
    approx_D = torch.log2(1. + approx_pos)
    return _reduce(-torch.sum(G / approx_D, dim=-1), reduction)


ORACLES = {"listnet_loss": listnet, "listmle_loss": listmle, "approx_ndcg_loss": approx_ndcg}
