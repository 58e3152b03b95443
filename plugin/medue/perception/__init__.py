"""What a reader sees: display-referred visibility of a change, in just-noticeable differences.

``display`` (window -> grey levels -> GSDF luminance, visual angle), ``csf`` (Barten 1999 via
colour-science), ``bands`` (octave bands by FFT) and ``jnd`` (the model: contrast per band over
threshold, raised by the image's own masking, pooled over bands and patches). Protect records
``jnd_summary`` per case (manifest, report) and so does the server's preview.
"""

from medue.perception.display import Display, grey_levels
from medue.perception.jnd import (
    JndParameters,
    JndResult,
    jnd_slice,
    jnd_summary,
    jnd_views,
    jnd_volume,
)

__all__ = [
    "Display",
    "JndParameters",
    "JndResult",
    "grey_levels",
    "jnd_slice",
    "jnd_summary",
    "jnd_views",
    "jnd_volume",
]
