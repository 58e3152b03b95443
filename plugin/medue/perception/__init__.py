"""What a reader sees: display-referred visibility of a change, in just-noticeable differences.

``display`` (window -> grey levels -> GSDF luminance, visual angle), ``csf`` (Barten 1999 via
colour-science), ``bands`` (octave bands by FFT) and ``jnd`` (the model: contrast per band over
threshold, raised by the image's own masking, pooled over bands and patches). Not yet used by
protect, the report or the server.
"""

from medue.perception.display import Display, grey_levels
from medue.perception.jnd import JndParameters, JndResult, jnd_slice, jnd_views, jnd_volume

__all__ = [
    "Display",
    "JndParameters",
    "JndResult",
    "grey_levels",
    "jnd_slice",
    "jnd_views",
    "jnd_volume",
]
