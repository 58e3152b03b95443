"""Exact restoration of the originals from a release and its private folder (``medue restore``).

At protect time, once a case's copy is in place, ``capture`` stores in the private folder what
turns each released file back into its original, byte for byte: the original's container bytes
(headers, DICOM elements, compressed-stream parameters, ``streams`` and ``dicom_payload``) and
the XOR of the original and released voxel payloads (zero outside the changed voxels, so it
compresses to little). Every entry is rebuilt and compared (sha256) before it is kept; a file
that cannot be rebuilt so is stored whole (compressed) and says so. ``release`` restores a
whole release after checking the key against its commitment and every released file against
its recorded sha256.
"""
