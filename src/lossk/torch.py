"""lossk.torch: every registered loss as a differentiable torch op on CPU tensors.

    import lossk.torch
    loss = lossk.torch.cross_entropy(logits, target, label_smoothing=0.1)
    loss.backward()            # lossk's fused gradient, computed in the forward pass

``lossk.torch.<name>`` exists for every name in ``lossk.LOSSES``, built from the
registry by one factory (`_make`), so a newly registered loss has its op with no
new code here. Array inputs are positional and take the torch / torchvision
function's names where the loss exists there (``input``, ``target``; ``inputs``,
``targets`` for sigmoid_focal_loss; ``boxes1``, ``boxes2`` for the torchvision
box losses); options are keywords with lossk's names (torch's where it has them).

Each loss is a ``torch.library.custom_op`` (``torch.ops.lossk.<name>``) with a
fake kernel and an autograd formula, so ``torch.compile(fullgraph=True)`` traces
it. The forward pass hands lossk the tensors' memory (``detach().numpy()``, no
copy for contiguous tensors) and, only when grad mode is on and a differentiated
input requires grad, torch-allocated gradient buffers as ``grad_out``. Backward
scales those saved gradients by the incoming gradient into new tensors; nothing
is written into inputs or saved tensors. The ops are differentiable once: a
double backward raises.

``reduction="none"``: the gradient of ``sum_i w_i loss_i`` for any upstream
``w`` is

* for losses whose samples are independent (registry ``independent``), each sample's saved
  gradient times ``w_i``: per element (mean kind ``"elements"``), per box
  (``"boxes"``: over the last axis of 4), per sample and position (class kinds:
  ``w`` broadcast over the class axis 1 and any trailing feature axes);
* for the others, lossk's own: the loss function must accept ``upstream=``
  (an array of the ``"none"`` output's shape, float64) and return
  d(sum_i upstream_i loss_i)/d(inputs) with ``reduction="none",
  return_grad=True`` (csrc/include/lossk.h's upstream convention). The backward
  then calls it again with the incoming gradient. A loss that has neither
  raises NotImplementedError in backward, never a wrong gradient.
"""
import inspect

import numpy as np
import torch

from ._registry import SPECS

__all__ = []            # filled below: one op per registered loss

# Array inputs renamed to the peer's parameter names (torchvision is not imported to
# read them; tests/test_torch_ops.py checks these against the real signatures, and
# those of torch.nn.functional peers, read below, when installed).
_TORCHVISION_NAMES = {
    "torchvision.ops.sigmoid_focal_loss": ("inputs", "targets"),
    "torchvision.ops.generalized_box_iou_loss": ("boxes1", "boxes2"),
    "torchvision.ops.distance_box_iou_loss": ("boxes1", "boxes2"),
    "torchvision.ops.complete_box_iou_loss": ("boxes1", "boxes2"),
}
# Inputs that are not one tensor (the penalties: a list of parameters and lam).
_INPUT_TYPES = {"arrays": "Tensor[]", "lam": "float"}
# Options whose default is None but that are not arrays.
# (and `mode`, the segmentation losses' required option)
_NONE_DEFAULT_TYPES = {"focal_gamma": "float?", "ignore_index": "int?", "block_rows": "int?",
                       "chunk_size": "int?", "mode": "str"}
# Keywords of the lossk functions that the op handles itself.
_NOT_OPTIONS = ("return_grad", "grad_out", "n_threads", "backend", "upstream", "accumulate",
                "reduction")
_SAMPLE_KINDS = ("elements", "boxes", "samples", "weight[target]", "alpha[target]")


def _peer_names(spec):
    """The peer function's leading positional parameter names, or lossk's own."""
    n = len(spec.inputs)
    if spec.peer in _TORCHVISION_NAMES:
        return _TORCHVISION_NAMES[spec.peer]
    if spec.peer and spec.peer.startswith("torch.nn.functional."):
        fn = getattr(torch.nn.functional, spec.peer.rsplit(".", 1)[1], None)
        if fn is not None:
            names = [p.name for p in inspect.signature(fn).parameters.values()
                     if p.kind == p.POSITIONAL_OR_KEYWORD][:n]
            if len(names) == n:
                return tuple(names)
    return spec.inputs


def _option_type(name, default):
    if name in _NONE_DEFAULT_TYPES:
        return _NONE_DEFAULT_TYPES[name]
    for t, s in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(default, t):
            return s
    return "Tensor?"


def none_backward_mode(spec):
    """How the op differentiates reduction="none" for any upstream gradient:
    "upstream" (the loss takes upstream=), "product" (independent samples: the
    saved per-sample gradient times the upstream weight), or None (unsupported)."""
    if "upstream" in inspect.signature(spec.fn).parameters:
        return "upstream"
    if spec.independent and spec.mean in _SAMPLE_KINDS:    # the registry's independent samples
        return "product"
    return None


def _none_shape(spec, grad_shape, shapes=None, options=None):
    """The shape of the "none" output, from the first differentiated input's (also
    what the fake kernel gives torch.compile); a loss whose "none" shape depends on
    other inputs or options says it by a `none_shape(shapes, options)` attribute."""
    hook = getattr(spec.fn, "none_shape", None)
    if hook is not None and shapes is not None:
        return tuple(hook(shapes, options))
    if spec.mean == "elements":
        return tuple(grad_shape)
    if spec.mean == "boxes":
        return tuple(grad_shape[:-1])
    if spec.mean in _SAMPLE_KINDS:       # class axis 1
        return tuple(grad_shape[:1]) + tuple(grad_shape[2:])
    return tuple(grad_shape[:1])         # one loss per sample along axis 0


def _upstream_view(spec, go, grad):
    """The upstream gradient `go` (the "none" output's shape) as a view that
    broadcasts over one sample of `grad`; NotImplementedError where it cannot."""
    if spec.mean == "boxes":
        v = go.unsqueeze(-1)
    elif spec.mean == "elements":
        v = go
    else:   # class kinds: (N, *S) -> (N, 1, *S, 1, ...)
        v = go.reshape(go.shape[:1] + (1,) + go.shape[1:] + (1,) * max(grad.dim() - go.dim() - 1, 0))
    if v.dim() > grad.dim() or any(a != b and a != 1 for a, b in zip(v.shape[::-1], grad.shape[::-1])):
        raise NotImplementedError(
            f"lossk.torch.{spec.name}: the upstream gradient of shape {tuple(go.shape)} does not "
            f"match the gradient of shape {tuple(grad.shape)} sample by sample")
    return v


class _Loss:
    """One loss's op, its autograd formula and its Python front end."""

    def __init__(self, spec, namespace="lossk"):
        self.spec, self.name, self.fn = spec, spec.name, spec.fn
        params = inspect.signature(spec.fn).parameters
        self.names = _peer_names(spec)                                  # public input names
        self.input_types = [_INPUT_TYPES.get(i, "Tensor") for i in spec.inputs]
        self.grad_index = [spec.inputs.index(g) for g in spec.grads]
        self.options = [(k, p.default) for k, p in params.items()
                        if p.kind == p.KEYWORD_ONLY and k not in _NOT_OPTIONS]
        self.option_types = [_option_type(k, d) for k, d in self.options]
        self.tensor_options = [j for j, t in enumerate(self.option_types) if t == "Tensor?"]
        self.has_reduction = "reduction" in params
        self.default_reduction = params["reduction"].default if self.has_reduction else spec.reductions[0]
        self.mode = none_backward_mode(spec)
        args = ", ".join(f"{t} {n}" for t, n in zip(self.input_types, spec.inputs))
        opts = "".join(f", {t} {k}" for t, (k, _) in zip(self.option_types, self.options))
        common = f"{args}{opts}, str reduction, int? n_threads"
        qual = f"{namespace}::{self.name}"
        self.op = torch.library.custom_op(qual, self._forward_impl, mutates_args=(),
                                          schema=f"({common}, bool need_grad) -> (Tensor, Tensor[])")
        self.op.register_fake(self._forward_fake)
        self.op.register_autograd(self._backward, setup_context=self._setup_context)
        self.up_op = None
        if self.mode == "upstream":
            self.up_op = torch.library.custom_op(qual + "_upstream_backward", self._upstream_impl,
                                                 mutates_args=(),
                                                 schema=f"({common}, Tensor upstream) -> Tensor[]")
            self.up_op.register_fake(self._upstream_fake)
            self.up_op.register_autograd(_no_double_backward, setup_context=_no_context)

    # ---- the kernel call ------------------------------------------------------------
    def _split(self, args):
        k, m = len(self.spec.inputs), len(self.options)
        return args[:k], args[k:k + m], args[k + m], args[k + m + 1]

    def _shapes(self, inputs, args):
        """(the inputs' shapes, the options by name): what a none_shape hook reads."""
        shapes = [tuple(x.shape) if isinstance(x, torch.Tensor) else None for x in inputs]
        return shapes, {k: v for (k, _), v in zip(self.options, self._split(args)[1])}

    def _grad_inputs(self, inputs):
        """The differentiated tensors, flattened (a Tensor[] input counts each)."""
        out = []
        for i in self.grad_index:
            out.extend(inputs[i] if isinstance(inputs[i], (list, tuple)) else [inputs[i]])
        return out

    def _call(self, args, grads, upstream=None):
        inputs, options, reduction, n_threads = self._split(args)
        np_inputs = [[t.detach().numpy() for t in x] if isinstance(x, (list, tuple))
                     else x.detach().numpy() if isinstance(x, torch.Tensor) else x for x in inputs]
        kw = {k: (v.detach().numpy() if isinstance(v, torch.Tensor) else v)
              for (k, _), v in zip(self.options, options)}
        if self.has_reduction:
            kw["reduction"] = reduction
        if upstream is not None:
            kw["upstream"] = np.ascontiguousarray(upstream.detach().numpy(), dtype=np.float64)
        if grads is None:
            return self.fn(*np_inputs, n_threads=n_threads, **kw), []
        g_np = [g.numpy() for g in grads]
        if self.input_types[self.grad_index[0]] == "Tensor[]":
            grad_out = g_np
        else:
            grad_out = g_np[0] if len(g_np) == 1 else tuple(g_np)
        loss, got = self.fn(*np_inputs, return_grad=True, grad_out=grad_out, n_threads=n_threads, **kw)
        got = list(got) if isinstance(got, (list, tuple)) else [got]
        # lossk writes grad_out; copy only if a gradient came back elsewhere
        out = [g if a is b or np.shares_memory(a, b) else torch.from_numpy(np.ascontiguousarray(a))
               for g, a, b in zip(grads, got, g_np)]
        return loss, out

    def _dtype(self, inputs):
        ts = self._grad_inputs(inputs)
        return ts[0].dtype if ts else torch.float64

    def _loss_tensor(self, inputs, loss):
        # the kernel's fresh value, no copy (a copy only when torch's dtype differs)
        return torch.from_numpy(np.asarray(loss)).to(self._dtype(inputs))

    def _forward_impl(self, *args):
        need_grad = args[-1]
        args = args[:-1]
        inputs, _, reduction, _ = self._split(args)
        grads = None
        if need_grad:
            grads = [torch.empty(t.shape, dtype=t.dtype) for t in self._grad_inputs(inputs)]
        loss, grads = self._call(args, grads)
        loss = self._loss_tensor(inputs, loss)
        if reduction == "none":
            expect = _none_shape(self.spec, self._grad_inputs(inputs)[0].shape, *self._shapes(inputs, args))
            if tuple(loss.shape) != expect:
                raise NotImplementedError(
                    f"lossk.torch.{self.name}: reduction='none' gave shape {tuple(loss.shape)}, but "
                    f"lossk.torch expects {expect} for mean kind {self.spec.mean!r} (see lossk.torch)")
        return loss, grads

    def _forward_fake(self, *args):
        need_grad = args[-1]
        inputs, _, reduction, _ = self._split(args[:-1])
        ts = self._grad_inputs(inputs)
        shape = _none_shape(self.spec, ts[0].shape, *self._shapes(inputs, args[:-1])) if reduction == "none" else ()
        loss = ts[0].new_empty(shape, dtype=self._dtype(inputs)) if ts else torch.empty(())
        return loss, ([torch.empty_like(t, memory_format=torch.contiguous_format) for t in ts]
                      if need_grad else [])

    def _upstream_impl(self, *args):
        upstream = args[-1]
        inputs = self._split(args[:-1])[0]
        grads = [torch.empty(t.shape, dtype=t.dtype) for t in self._grad_inputs(inputs)]
        return self._call(args[:-1], grads, upstream=upstream)[1]

    def _upstream_fake(self, *args):
        inputs = self._split(args[:-1])[0]
        return [torch.empty_like(t, memory_format=torch.contiguous_format) for t in self._grad_inputs(inputs)]

    # ---- autograd -------------------------------------------------------------------
    def _setup_context(self, ctx, inputs, output):
        _, grads = output
        reduction, need_grad = inputs[-3], inputs[-1]
        ctx.reduction, ctx.need_grad = reduction, need_grad
        ctx.counts = [len(inputs[i]) if self.input_types[i] == "Tensor[]" else 1 for i in self.grad_index]
        ctx.args = None
        if need_grad:
            ctx.save_for_backward(*grads)
        elif reduction == "none" and self.mode == "upstream":
            # the gradient depends on the upstream weights: lossk runs again in backward
            flat, spots = [], []
            for a in inputs[:-1]:
                if isinstance(a, torch.Tensor):
                    spots.append(("t", len(flat)))
                    flat.append(a)
                elif isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
                    spots.append(("l", len(flat), len(a)))
                    flat.extend(a)
                else:
                    spots.append(("v", a))
            ctx.save_for_backward(*flat)
            ctx.args = spots

    def _backward(self, ctx, grad_loss, _grad_grads):
        # backward runs with grad mode on only under create_graph=True: the products
        # below would then differentiate as if the saved gradients were constants
        if torch.is_grad_enabled() and not torch.compiler.is_compiling():
            raise RuntimeError(f"lossk.torch.{self.name} is differentiable once: its gradient is "
                               "lossk's, computed in the forward pass; double backward "
                               "(create_graph=True) is not supported")
        n_args = len(self.spec.inputs) + len(self.options) + 3
        result = [None] * n_args
        if ctx.reduction == "none" and self.mode == "upstream":
            saved = ctx.saved_tensors
            args = [saved[s[1]] if s[0] == "t" else list(saved[s[1]:s[1] + s[2]]) if s[0] == "l"
                    else s[1] for s in ctx.args]
            grads = self.up_op(*args, grad_loss)
        elif not ctx.need_grad:
            return tuple(result)
        else:
            saved = ctx.saved_tensors
            if ctx.reduction == "none":
                if self.mode is None:
                    raise NotImplementedError(
                        f"lossk.torch.{self.name}: backward of reduction='none' needs the loss to take "
                        "upstream= (one sample's loss depends on other samples' inputs); use 'mean' or "
                        "'sum', or reduce the per-sample losses yourself after a 'sum'")
                grads = [g * _upstream_view(self.spec, grad_loss, g) for g in saved]
            else:
                grads = [g * grad_loss for g in saved]
        k = 0
        for i, n in zip(self.grad_index, ctx.counts):
            result[i] = list(grads[k:k + n]) if self.input_types[i] == "Tensor[]" else grads[k]
            k += n
        return tuple(result)

    # ---- the public function --------------------------------------------------------
    def function(self):
        spec, names, options = self.spec, self.names, dict(self.options)
        op, name = self.op, self.name

        def fn(*args, reduction=None, n_threads=None, **kwargs):
            if len(args) > len(names):
                raise TypeError(f"lossk.torch.{name}() takes {len(names)} positional arguments "
                                f"({', '.join(names)}); options are keywords")
            inputs = list(args)
            for n in names[len(args):]:
                if n not in kwargs:
                    raise TypeError(f"lossk.torch.{name}() missing argument {n!r}")
                inputs.append(kwargs.pop(n))
            opts = []
            for k, d in options.items():
                opts.append(kwargs.pop(k, d))
            if kwargs:
                raise TypeError(f"lossk.torch.{name}() got unexpected keyword(s) {sorted(kwargs)}")
            if reduction is None:
                reduction = self.default_reduction
            return self._apply(inputs, opts, reduction, n_threads)

        params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
        params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d) for k, d in self.options]
        params += [inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY,
                                     default=self.default_reduction),
                   inspect.Parameter("n_threads", inspect.Parameter.KEYWORD_ONLY, default=None)]
        fn.__signature__ = inspect.Signature(params)
        fn._lossk = self
        fn.__name__ = fn.__qualname__ = name
        fn.__module__ = __name__
        fn.__doc__ = (f"lossk.{name} as a differentiable torch op (torch.ops.lossk.{name}); "
                      f"inputs {', '.join(names)} (lossk's {', '.join(spec.inputs)}).\n\n"
                      f"{spec.fn.__doc__ or ''}")
        return fn

    def _apply(self, inputs, opts, reduction, n_threads):
        if reduction == "none" and self.mode is None:
            # samples that depend on each other: without upstream= the backward of an
            # arbitrary weighting is unknown (and so is the fake kernel's shape)
            raise NotImplementedError(
                f"lossk.torch.{self.name}: reduction='none' needs the loss to take upstream= "
                f"(its samples depend on each other); use 'mean' or 'sum', or lossk.{self.name} on arrays")
        return self.op(*self._op_args(inputs, opts, reduction, n_threads))[0]

    def op_args(self, inputs, options):
        """The op's arguments for a call fn(*inputs, **options) (tests: opcheck)."""
        options = dict(options)
        reduction = options.pop("reduction", self.default_reduction)
        n_threads = options.pop("n_threads", None)
        opts = [options.pop(k, d) for k, d in self.options]
        return self._op_args(list(inputs), opts, reduction, n_threads)

    def _op_args(self, inputs, opts, reduction, n_threads):
        spec = self.spec
        if not self.has_reduction and reduction not in spec.reductions:
            raise ValueError(f"lossk.torch.{self.name}: reduction must be one of {spec.reductions}, "
                             f"got {reduction!r}")
        grad_on = torch.is_grad_enabled()
        need = False
        Tensor = torch.Tensor
        for i, x in enumerate(inputs):
            for t in (x if self.input_types[i] == "Tensor[]" and isinstance(x, (list, tuple)) else (x,)):
                if isinstance(t, Tensor):
                    if t.is_cuda or t.device.type != "cpu":
                        raise ValueError(f"lossk.torch.{self.name}: {self.names[i]} is on {t.device}; "
                                         "lossk runs on CPU tensors")
                    if grad_on and t.requires_grad:
                        if i not in self.grad_index:
                            raise ValueError(f"lossk.torch.{self.name} gives no gradient for "
                                             f"{self.names[i]!r}: pass it detached")
                        need = True
                elif self.input_types[i] == "Tensor":
                    if i == 0:
                        raise TypeError(f"lossk.torch.{self.name}: {self.names[0]} must be a tensor")
                    inputs[i] = torch.as_tensor(t)
        for j in self.tensor_options:       # only the Tensor? options need a look
            v = opts[j]
            if v is not None:
                if not isinstance(v, Tensor):
                    opts[j] = torch.as_tensor(v)
                elif grad_on and v.requires_grad:
                    raise ValueError(f"lossk.torch.{self.name} gives no gradient for its options: "
                                     "pass them detached")
        need_grad = need and not (reduction == "none" and self.mode == "upstream")
        if need and reduction == "none" and spec.mean == "elements" and self.mode == "product":
            # a differentiated input smaller than the broadcast loss (kl_div): expand it, so
            # that each loss element has its own gradient; autograd sums the expansion back
            tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
            shape = torch.broadcast_shapes(*[t.shape for t in tensors])
            inputs = [x.expand(shape).contiguous() if i in self.grad_index and x.shape != shape else x
                      for i, x in enumerate(inputs)]
        return (*inputs, *opts, reduction, n_threads, need_grad)


def _no_context(ctx, inputs, output):
    pass


def _no_double_backward(ctx, *grads):
    raise RuntimeError("lossk.torch ops are differentiable once: double backward is not supported")


def _make(spec, namespace="lossk"):
    """The public torch function of one registered loss (and its op)."""
    return _Loss(spec, namespace).function()


def _unavailable(name, err):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"lossk.torch.{name}: no torch op ({err})")
    fn.__name__ = name
    return fn


# A loss whose signature the factory cannot express (tests/test_torch_ops.py fails on
# it) must not take the other losses' ops down with it.
_UNAVAILABLE = {}
for _name, _spec in SPECS.items():
    try:
        globals()[_name] = _make(_spec)
    except Exception as _err:   # noqa: BLE001 (reported by name)
        _UNAVAILABLE[_name] = f"{type(_err).__name__}: {_err}"
        globals()[_name] = _unavailable(_name, _UNAVAILABLE[_name])
    __all__.append(_name)
del _name, _spec
