"""MedUEProtectLib's maths without a server: ROI boxes from Slicer's geometry, the overlay, the
shared window, the flicker, NIfTI reading and request bodies."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk
from MedUEProtectLib import JobRequest, PreviewSettings, RequestRefused, panel
from MedUEProtectLib.display import (
    Flicker,
    Window,
    amplification,
    blend,
    change_colours,
    change_labels,
    clinical_window,
    difference,
    grey,
    measure,
    overlay_legend,
)
from MedUEProtectLib.errors import MedUEError
from MedUEProtectLib.jobs import JobStatus, describe, format_seconds
from MedUEProtectLib.nifti import read_nifti
from MedUEProtectLib.preview import looks_like_ct, unit_name
from MedUEProtectLib.roi import (
    box_from_mask,
    box_from_ras_bounds,
    box_from_roi,
    box_roi,
    clip_box,
    labels_in,
    labels_roi,
    server_label,
)

# A volume as Slicer holds a NIfTI in LPS+: IJK -> RAS flips x and y, spacing 0.5, 0.5, 2 mm.
SHAPE = (20, 64, 48)  # z, y, x
IJK_TO_RAS = np.array([[-0.5, 0, 0, 10.0], [0, -0.5, 0, 20.0], [0, 0, 2.0, -30.0], [0, 0, 0, 1]])


def _ras(i: float, j: float, k: float) -> np.ndarray:
    return (IJK_TO_RAS @ [i, j, k, 1.0])[:3]


def test_a_markups_roi_becomes_the_voxel_box_around_it() -> None:
    # an ROI from voxel centre (i, j, k) = (10, 20, 4) to (19, 39, 9): size in mm, centred
    low, high = _ras(10, 20, 4), _ras(19, 39, 9)
    centre, size = (low + high) / 2, np.abs(high - low)
    object_to_ras = np.eye(4)
    object_to_ras[:3, 3] = centre
    assert box_from_roi(size, object_to_ras, IJK_TO_RAS, SHAPE) == [4, 20, 10, 10, 40, 20]
    # a little inside the outer voxel centres: those voxels are left out
    assert box_from_roi(size - 0.1, object_to_ras, IJK_TO_RAS, SHAPE) == [5, 21, 11, 9, 39, 19]


def test_an_roi_turned_against_the_grid_gets_the_box_around_it() -> None:
    turn = np.eye(4)
    angle = np.pi / 4
    turn[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    turn[:3, 3] = _ras(24, 32, 10)
    box = box_from_roi([10.0, 10.0, 4.0], turn, IJK_TO_RAS, SHAPE)
    half = 10 * np.sqrt(2) / 2 / 0.5  # the square's half-diagonal, in voxels
    assert box == [9, int(np.ceil(32 - half)), int(np.ceil(24 - half)), 12,
                   int(np.floor(32 + half)) + 1, int(np.floor(24 + half)) + 1]  # fmt: skip


def test_boxes_are_kept_inside_the_volume_or_refused() -> None:
    object_to_ras = np.eye(4)
    object_to_ras[:3, 3] = _ras(0, 0, 0)
    assert box_from_roi([20, 20, 20], object_to_ras, IJK_TO_RAS, SHAPE) == [0, 0, 0, 6, 21, 21]
    assert box_from_roi([20, 20, 20], object_to_ras, IJK_TO_RAS, SHAPE, margin=2) == [
        0, 0, 0, 8, 23, 23]  # fmt: skip
    object_to_ras[:3, 3] = _ras(-100, 0, 0)
    with pytest.raises(RequestRefused, match="outside the volume"):
        box_from_roi([5, 5, 5], object_to_ras, IJK_TO_RAS, SHAPE)
    with pytest.raises(RequestRefused, match="singular"):
        box_from_roi([5, 5, 5], np.eye(4), np.zeros((4, 4)), SHAPE)
    with pytest.raises(RequestRefused, match="three lengths"):
        box_from_roi([5, 5], np.eye(4), IJK_TO_RAS, SHAPE)
    assert clip_box([-3, 2, 2, 99, 5, 5], SHAPE) == [0, 2, 2, 20, 5, 5]


def test_a_segment_becomes_its_bounding_box_or_its_label() -> None:
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:7, 10:12, 40:48] = 1
    assert box_from_mask(mask) == [3, 10, 40, 7, 12, 48]
    assert box_from_mask(mask, margin=2) == [1, 8, 38, 9, 14, 48]
    with pytest.raises(RequestRefused, match="segment is empty"):
        box_from_mask(np.zeros(SHAPE))
    # the same segment from its RAS bounds (a segment's GetBounds), through the geometry
    corners = np.array([_ras(i, j, k) for i in (40, 47) for j in (10, 11) for k in (3, 6)])
    bounds = [v for axis in range(3) for v in (corners[:, axis].min(), corners[:, axis].max())]
    assert box_from_ras_bounds(bounds, IJK_TO_RAS, SHAPE) == [3, 10, 40, 7, 12, 48]
    labelmap = np.zeros(SHAPE, np.int16)
    labelmap[0, 0, :3] = [2, 5, 2]
    assert labels_in(labelmap) == [2, 5]
    # a segment loaded from the server's label map stands for its label; an edited one does not
    assert server_label(labelmap == 2, labelmap) == 2 and server_label(labelmap == 5, labelmap) == 5
    edited = labelmap == 2
    edited[0, 0, 1] = True
    assert server_label(edited, labelmap) is None and server_label(labelmap > 9, labelmap) is None
    assert labels_roi([5, 2, 2]) == {"labels": [2, 5]} and labels_roi([]) is None
    assert box_roi(np.array([1, 2, 3, 4, 5, 6])) == {"box": [1, 2, 3, 4, 5, 6]}


def test_the_overlay_bins_the_change_by_epsilon() -> None:
    original = np.zeros((1, 1, 7), np.int16)
    protected = np.array([[[0, -16, -4, 4, 8, 16, 0.5]]], np.float32)
    change = difference(original, protected)
    labels = change_labels(change, epsilon=16, levels=4)
    assert labels.tolist() == [[[0, 4, 1, 5, 6, 8, 5]]]
    table = change_colours(4)
    assert [row[0] for row in table] == list(range(9))
    blue, red = table[4][2], table[8][2]
    assert blue[2] > blue[0] and red[0] > red[2]  # decreases blue, increases red
    window = Window(40, 400)
    assert amplification(16, window) == 25
    assert "×25" in overlay_legend(16, "HU", window) and "±16 HU" in overlay_legend(
        16, "HU", window
    )
    with pytest.raises(ValueError, match="not on the original's grid"):
        difference(original, np.zeros((1, 1, 6)))
    picture = blend(grey(np.zeros((1, 7)), window), labels[0])
    assert (
        picture.shape == (1, 7, 3) and tuple(picture[0, 0]) == tuple(grey(np.zeros(1), window)) * 3
    )


def test_one_window_for_both_volumes() -> None:
    assert clinical_window(server=(1.0, 1058.0)) == Window(529.5, 1057.0)
    assert clinical_window(is_ct=True) == Window(40, 400)
    mr = np.concatenate([np.zeros(1000), np.arange(1, 1001)]).reshape(10, 10, 20)
    window = clinical_window(mr)
    assert window.low == pytest.approx(np.percentile(np.arange(1, 1001), 0.5))
    assert grey(np.array([window.low - 5, window.level, window.high + 5]), window).tolist() == [
        0, 128, 255]  # fmt: skip
    assert looks_like_ct(-1024) and not looks_like_ct(0)
    assert unit_name(True) == "HU" and unit_name(False) == "units"


def test_the_flicker_alternates_and_stops_on_the_original() -> None:
    flicker = Flicker()
    assert flicker.start() == "original" and flicker.running
    assert [flicker.tick() for _ in range(3)] == ["protected", "original", "protected"]
    assert flicker.stop() == "original" and not flicker.running
    assert flicker.interval_ms == 500


def test_measure_matches_the_definition() -> None:
    original = np.zeros((2, 2, 2))
    original[0, 0, 0] = 100
    protected = original.copy()
    protected[1, 1, 1] = 2
    numbers = measure(original, protected)
    assert numbers["max_abs_change"] == 2 and numbers["changed_fraction"] == 1 / 8
    assert numbers["psnr_db"] == pytest.approx(10 * np.log10(100**2 / (4 / 8)))
    assert measure(original, original)["psnr_db"] == float("inf")


def test_nifti_reader_matches_itk(tmp_path) -> None:
    values = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 7
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 0.75, 2.0))
    sitk.WriteImage(image, str(tmp_path / "a.nii.gz"))
    read = read_nifti(tmp_path / "a.nii.gz")
    assert read.array.dtype == np.int16 and np.array_equal(read.array, values)
    assert read.spacing == (0.5, 0.75, 2.0)
    raw = gzip.decompress((tmp_path / "a.nii.gz").read_bytes())
    (tmp_path / "short.nii.gz").write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(MedUEError, match="short.nii.gz: the file is truncated"):
        read_nifti(tmp_path / "short.nii.gz")
    (tmp_path / "no.nii").write_bytes(b"x" * 400)
    with pytest.raises(MedUEError, match="not a NIfTI-1 file"):
        read_nifti(tmp_path / "no.nii")


def test_request_bodies() -> None:
    assert JobRequest().body() == {}
    body = JobRequest(
        "pattern-blocks", ["a"], "strong", 6, box_roi([0, 0, 0, 1, 1, 1]), "rel"
    ).body()
    assert body == {"method": "pattern-blocks", "images": ["a"], "epsilon": 6.0,
                    "roi": {"box": [0, 0, 0, 1, 1, 1]}, "export": "rel"}  # fmt: skip
    with pytest.raises(RequestRefused, match="at least one image"):
        JobRequest(images=[]).body()
    with pytest.raises(RequestRefused, match="positive"):
        JobRequest(epsilon=0).body()
    params = PreviewSettings("m", image_id="a", epsilon=3, box=[0, 0, 0, 2, 2, 2]).params()
    assert params == {
        "perturbation": False,
        "epsilon": 3.0,
        "preset": None,
        "box": [0, 0, 0, 2, 2, 2],
    }
    assert PreviewSettings("m", image_id="a").params() == {
        "perturbation": False,
        "preset": "balanced",
    }


def test_progress_words() -> None:
    status = JobStatus.from_json({"id": "j", "state": "running", "phase": "apply", "done": 3,
                                  "total": 5, "eta_seconds": 125.4})  # fmt: skip
    assert describe(status) == "writing the protected copies: 3 of 5, about 2 min 05 s left"
    assert format_seconds(12.4) == "12 s"
    status.eta_seconds = 0.2
    assert describe(status).endswith("3 of 5, under a second left")
    with pytest.raises(MedUEError, match="not what MedUE sends"):
        JobStatus.from_json({"state": "done"})


def test_panel_rules() -> None:
    idle = panel.PanelState().enabled()
    assert not any(idle[name] for name in ("previewButton", "protectButton", "cancelButton"))
    viewer = panel.PanelState(connected=True, can_protect=False, images=2, releases=1).enabled()
    assert viewer["previewButton"] and not viewer["protectButton"] and not viewer["exportButton"]
    running = panel.PanelState(True, True, 2, 1, job_running=True, busy=True).enabled()
    assert running["cancelButton"] and not running["protectButton"] and not running["previewButton"]
    assert panel.roi_rows(panel.SEGMENT)["segmentSelector"]
    assert not panel.roi_rows(panel.LABELS)["marginSpinBox"]
    assert panel.budget("strong", 3.0) == ("strong", None)
    assert panel.budget(panel.CUSTOM, 3.0) == (None, 3.0)
    with pytest.raises(RequestRefused, match="positive"):
        panel.budget(panel.CUSTOM, 0.0)
    assert panel.preset_choices({"imperceptible": "", "balanced": ""}) == (
        ["imperceptible", "balanced", panel.CUSTOM], 1)  # fmt: skip
    assert panel.label_values(" 1, 2 ") == [1, 2] and panel.label_values("") == []
    with pytest.raises(RequestRefused, match="positive whole numbers"):
        panel.label_values("1, x")


def test_every_phase_the_server_reports_is_said_in_words() -> None:
    # the server's phases (medue.server.store and worker): none shown as a raw word
    for phase, words in [("waiting", "waiting for a worker"), ("starting", "starting the worker"),
                         ("check", "checking the release")]:  # fmt: skip
        assert words in describe(JobStatus(id="j", state="running", phase=phase))
