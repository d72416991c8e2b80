"""Neural language models written without an autograd library.

- :mod:`.layers`, :mod:`.softmax`: hand-written forward/backward passes
  (Numba kernels in ``*_kernels.py``, dense products through BLAS);
- :mod:`.optim`, :mod:`.init`: optimizers, penalties, clipping, schedules, initializers;
- :mod:`.gradcheck`: finite-difference checks of the gradients;
- :mod:`.trainer`: the training loop shared by every neural model;
- :mod:`.mlp`: Bengio's MLP language model;
- :mod:`.rnn`: the Elman recurrent network language model (Mikolov's RNNLM);
- :mod:`.transformer`: a decoder-only pre-layer-norm Transformer (GPT).

Importing this package registers the model kinds for ``nlm.load``.
"""
from .mlp import MLPModel  # noqa: F401  (registers kind "mlp")
from .rnn import RNNModel  # noqa: F401  (registers kind "rnn")
from .transformer import TransformerModel  # noqa: F401  (registers kind "transformer")

__all__ = ["MLPModel", "RNNModel", "TransformerModel"]
