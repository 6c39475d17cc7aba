"""Argument checking, one module per family, shared by the API (lossk.<family>)
and the NumPy reference (lossk.reference.<family>): both raise the same errors
because both call the same `prepare_<loss>` here. A prepare function returns a
`Call` holding the checked inputs (in their own shapes), options and outputs;
it knows nothing of the kernels' encodings (flattening, broadcast patterns,
enum codes), which the API module derives from it."""
