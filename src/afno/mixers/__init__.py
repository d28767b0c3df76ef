"""Token mixers for channels-last token grids ``(B, *spatial, C)``.

- :class:`AFNO`: adaptive Fourier neural operator (block complex MLP on kept modes);
- :class:`SelfAttention`: global multi-head attention (``scaled_dot_product_attention``);
- :class:`GlobalFilter`: GFN, one complex weight per mode;
- :class:`FNO`: dense Fourier neural operator, a complex ``C x C`` weight per kept mode.

:func:`build_mixer` builds any of them by name (:data:`MIXER_NAMES`).
"""

from afno.mixers.afno import AFNO
from afno.mixers.attention import SelfAttention
from afno.mixers.factory import MIXER_NAMES, build_mixer
from afno.mixers.fno import FNO
from afno.mixers.global_filter import GlobalFilter

__all__ = ["AFNO", "FNO", "MIXER_NAMES", "GlobalFilter", "SelfAttention", "build_mixer"]
