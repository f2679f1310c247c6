"""lotteryfast: fast lottery-ticket research beyond image classification.

Kernels (compiled in ``lotteryfast._C``): fused masked Adam/RMSprop steps and exact global
magnitude selection over many tensors. See ``lotteryfast.optim`` and ``lotteryfast.prune``.
"""

from lotteryfast.optim import MaskedAdam, MaskedRMSprop
from lotteryfast.prune import global_magnitude_prune, kth_smallest_magnitude

__all__ = ["MaskedAdam", "MaskedRMSprop", "global_magnitude_prune", "kth_smallest_magnitude"]
__version__ = "0.1.0"
