"""Install the ``medue`` package (engine + MONAI Label server plugin) from ``plugin/``.

The pins below are the ones that let MONAI Label 0.8.5 start on Python 3.11 (see README, "Why
these pins"): pydicom 3 breaks pydicom-seg, newer dicomweb-client/pynetdicom need pydicom 3,
an unpinned sam2 resolves to a third-party sdist, and torchvision must match the torch build.
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "monai==1.6.1",
    "monailabel==0.8.5",
    "numpy>=1.24,<2",
    "scipy>=1.10",
    "SimpleITK>=2.3",
    "nibabel>=5",
    "pynrrd>=1.0",  # NRRD header fields, parsed to write the header back unchanged
    "pydicom>=2.4,<3",
    "dicomweb-client>=0.59.1,<0.61",
    "pynetdicom>=2,<3",
    "sam2==0.4.1",
    "scikit-image>=0.21",
    "PyWavelets>=1.4",  # scikit-image's estimate_sigma (noise sigma in visibility reports)
    "tqdm>=4.60",
    "requests>=2.31",
    "fastapi>=0.100",  # the /protect endpoints (MONAI Label serves FastAPI; declared as we use it)
    "PyJWT>=2.8",  # the server's bearer-token checks (medue.server.auth)
    "Pillow>=10",  # JPEG / JPEG 2000 countermeasures in medue evaluate
    "kornia>=0.7",  # differentiable blur, median and JPEG for robust training (medue.robust)
    "matplotlib>=3.7",  # evaluation plots (Agg backend)
    # DICOM GSDF and Barten's CSF for the JND measure (medue.perception); 0.4.7 needs numpy 2
    "colour-science>=0.4.4,<0.4.7",
    # MNI152 template + tissue maps ship inside the wheel: the 2D benchmark's real data.
    "nilearn>=0.10",
]

setup(
    name="medue",
    version="0.1.0",
    description="Unlearnable-example protection for medical imaging datasets (UMed, SALM)",
    package_dir={"": "plugin"},
    packages=find_packages("plugin"),
    package_data={"medue": ["benchmark_reference.json"]},  # the benchmark's scores, for reports
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    # vermin: the Slicer module's Python 3.9 check; PySide6-Essentials: its .ui built in real Qt
    # (offscreen) for the tests and the clinicians' page (tests/slicer, slicer_extension/tools)
    extras_require={
        "dev": [
            "pytest>=7",
            "pytest-timeout",
            "pytest-xdist",  # scripts/test.sh runs the suite in two processes
            "ruff",
            "vermin>=1.6",
            "PySide6-Essentials>=6.5",
            "cryptography>=41",  # RSA keys for the auth tests' own token issuer
            "psutil>=5.9",  # the distributed tests find and kill a rank's processes
            "h5py>=3.8",  # benchmarks/msd_lung_data.py reads the MSD lung patches (HDF5)
        ],
        # benchmarks/jnd_vs_cvvdp.py: ColorVideoVDP, the cross-check of medue.perception's JND
        "jnd-check": ["cvvdp>=0.5"],
    },
    entry_points={"console_scripts": ["medue=medue.cli:main"]},
)
