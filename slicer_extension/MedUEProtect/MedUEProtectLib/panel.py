"""The panel's rules, kept out of the Slicer widget so they are tested: which buttons are
enabled, which ROI rows show, what the strength and ROI entries mean, and the list texts."""

from __future__ import annotations

from dataclasses import dataclass

from MedUEProtectLib.errors import RequestRefused

ROI_SOURCES = ("The dataset's labels (on the server)", "A segment", "A markups ROI box")
LABELS, SEGMENT, ROI_BOX = 0, 1, 2
CUSTOM = "Custom ε (native units)"
DEFAULT_PRESET = "balanced"
TORCHSCRIPT = "TorchScript (the file says)"
VERIFY_NETWORKS = (TORCHSCRIPT, "unet", "segresnet", "attentionunet", "resnet18", "densenet121")
"""What a suspect file is: TorchScript, or a state dict of one of the networks the server builds."""


@dataclass
class PanelState:
    """What the panel is doing right now."""

    connected: bool = False
    can_protect: bool = False  # connected with an account that may start jobs
    images: int = 0
    releases: int = 0
    busy: bool = False  # a preview, a download or an export step is running
    job_running: bool = False
    previewed: bool = False  # a preview is in the scene
    verified: bool = False  # a verdict is shown (its report can be opened)

    def enabled(self) -> dict[str, bool]:
        """Widget name -> enabled."""
        return {
            "loadImageButton": self.connected and self.images > 0 and not self.busy,
            "refreshButton": self.connected,
            "previewButton": self.connected and not self.busy,
            "protectButton": self.can_protect and not self.job_running,
            "cancelButton": self.job_running,
            "exportButton": self.can_protect and self.releases > 0 and not self.busy,
            "flickerCheckBox": self.previewed,
            "overlayCheckBox": self.previewed,
            "toggleButton": self.previewed,
            "verifyButton": self.can_protect and self.releases > 0 and not self.busy,
            "verifyReportButton": self.verified and not self.busy,
        }


def network(choice: str) -> str | None:
    """The ``arch`` to send for the network combo's ``choice`` (None: a TorchScript file)."""
    return None if choice == TORCHSCRIPT else choice


def roi_rows(source: int) -> dict[str, bool]:
    """Widget name -> visible, for the ROI source chosen (an index of ROI_SOURCES)."""
    return {
        "labelValuesEdit": source == LABELS,
        "labelValuesLabel": source == LABELS,
        "segmentSelector": source == SEGMENT,
        "segmentLabel": source == SEGMENT,
        "roiBoxSelector": source == ROI_BOX,
        "roiBoxLabel": source == ROI_BOX,
        "marginSpinBox": source != LABELS,
        "marginLabel": source != LABELS,
    }


def budget(choice: str, epsilon: float) -> tuple[str | None, float | None]:
    """(preset, epsilon) for the strength combo's ``choice``: a preset name, or CUSTOM with
    ``epsilon`` (max change per voxel, native units: HU on CT)."""
    if choice == CUSTOM:
        if not epsilon > 0:
            raise RequestRefused(f"ε must be a positive number, got {epsilon:g}")
        return None, float(epsilon)
    return (choice or None), None


def preset_choices(presets: dict[str, str]) -> tuple[list[str], int]:
    """The strength combo's entries (the server's presets, then CUSTOM) and the default's
    index."""
    names = list(presets)
    return [*names, CUSTOM], names.index(DEFAULT_PRESET) if DEFAULT_PRESET in names else 0


def label_values(text: str) -> list[int]:
    """``"1, 2"`` → ``[1, 2]``; empty → ``[]`` (every label). RequestRefused for anything else."""
    values = text.replace(",", " ").split()
    if not all(v.isdigit() and int(v) > 0 for v in values):
        raise RequestRefused(f"label values are positive whole numbers like 1, 2; got {text!r}")
    return [int(v) for v in values]


def image_rows(images) -> list[str]:
    """One line per image of the dataset list."""
    return [image.id + ("  (labels)" if image.labelled else "") for image in images]


def dataset_line(name: str, images) -> str:
    labelled = sum(1 for image in images if image.labelled)
    return f"{name}: {len(images)} images ({labelled} with labels)"
