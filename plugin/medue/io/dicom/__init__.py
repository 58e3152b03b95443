"""DICOM images: a folder listed by header, one series assembled and checked, written as derived.

One module per concern, in the order data flows: ``files`` (which objects a folder holds, by SOP
Class; non-image objects skipped and named), ``frames`` (one plane per file or per frame, with
its position), ``geometry`` (the series checks and the voxel grid), ``pixels`` (stored values,
exactly, and their encoding), ``series`` (read a volume; write a new derived series).
"""

from medue.io.dicom.files import is_dicom_folder, looks_like_dicom_folder
from medue.io.dicom.series import check_dicom_target, read_dicom_series, stage_dicom_series

__all__ = [
    "check_dicom_target",
    "is_dicom_folder",
    "looks_like_dicom_folder",
    "read_dicom_series",
    "stage_dicom_series",
]
