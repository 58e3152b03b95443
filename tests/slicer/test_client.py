"""MedUEProtectLib against a real ``medue serve`` on 127.0.0.1 (auth off): connect, list,
preview, protect, follow, cancel, export, and the errors a clinician can meet."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from MedUEProtectLib import (
    BackgroundCall,
    BadUrl,
    ExportTask,
    ImageMissing,
    JobMonitor,
    JobRequest,
    MedUEClient,
    PreviewSettings,
    RequestRefused,
    ServerDown,
)
from MedUEProtectLib.display import measure
from MedUEProtectLib.nifti import read_nifti
from MedUEProtectLib.preview import describe
from MedUEProtectLib.roi import box_from_mask, labels_roi

from tests.server.running import Server, free_port


@pytest.fixture(scope="module")
def client(medue_server: Server) -> MedUEClient:
    return MedUEClient(medue_server.url)


def test_connect_lists_dataset_methods_and_presets(client: MedUEClient, medue_server) -> None:
    info = client.connect()
    assert info.name == "MedUE" and info.images == 2 and info.labelled == 2
    assert info.default_method == "pattern-checker" and "umed" in info.methods
    assert "salm" not in info.methods  # classification methods need a classification dataset
    assert set(info.presets) == {"imperceptible", "balanced", "strong", "robust"}
    assert not info.auth and info.protect_refused is None
    assert "2 images (2 with labels)" in info.summary()
    assert [(i.id, i.labelled) for i in client.images()] == [("brain2", True), ("breast1", True)]
    typed = MedUEClient(medue_server.url.removeprefix("http://") + "/")  # as a user may type it
    assert typed.url == medue_server.url and typed.connect().images == 2


def test_preview_is_the_protected_image_with_its_numbers(client: MedUEClient, tmp_path) -> None:
    original = read_nifti(client.download_image("brain2", tmp_path)).array
    result = client.preview(PreviewSettings("pattern-blocks", image_id="brain2"), tmp_path)
    protected = read_nifti(result.path)
    assert protected.array.dtype == np.float32 and protected.array.shape == original.shape
    assert protected.spacing == pytest.approx(read_nifti(tmp_path / "brain2.nii.gz").spacing)
    # the read-out is the server's measurement of exactly this image
    mine = measure(original, protected.array, result.metrics["data_range"])
    assert mine["psnr_db"] == pytest.approx(result.metrics["psnr_db"], abs=1e-3)
    assert mine["max_abs_change"] == pytest.approx(result.metrics["max_abs_change"])
    assert 0 < mine["max_abs_change"] <= result.budget["epsilon_native"]
    assert not result.is_ct and result.window[0] < result.window[1]
    text = describe(result)
    assert "PSNR" in text and "SSIM" in text and "max change" in text and "units" in text
    jnd = result.metrics["jnd"]  # what a reader sees, at 1x, 2x and 4x zoom
    assert text.startswith(f"JND {jnd['1x']:.2f} at 1×, {jnd['2x']:.2f} at 2×, {jnd['4x']:.2f}")
    assert ("not seen up to 4× zoom" in text) == (jnd["4x"] < 1)
    # epsilon in native units, and the change itself
    change = client.preview(PreviewSettings("pattern-blocks", image_id="brain2", epsilon=5,
                                            perturbation=True), tmp_path)  # fmt: skip
    values = read_nifti(change.path).array
    assert change.budget["epsilon_native"] == 5 and 0 < np.abs(values).max() <= 5


def test_preview_in_a_box_changes_only_the_box(client: MedUEClient, tmp_path) -> None:
    image = read_nifti(Path(client.download_image("breast1", tmp_path))).array
    mask = np.zeros(image.shape, bool)
    mask[:, 10:30, 12:40] = True
    box = box_from_mask(mask)
    assert box == [0, 10, 12, image.shape[0], 30, 40]
    settings = PreviewSettings("pattern-blocks", image_id="breast1", box=box, perturbation=True)
    change = read_nifti(client.preview(settings, tmp_path).path).array
    near = np.zeros(image.shape, bool)  # the box and the server's 3-voxel band around it
    near[:, 10 - 3 : 30 + 3, 12 - 3 : 40 + 3] = True
    assert np.abs(change[~near]).max() == 0 and np.abs(change[mask]).max() > 0


def test_preview_of_a_volume_not_on_the_server(client: MedUEClient, medue_server, tmp_path):
    """A volume loaded in Slicer from elsewhere is uploaded, with its ROI as a box."""
    local = medue_server.studies / "breast1.nii.gz"
    with pytest.raises(RequestRefused, match="ROI box"):
        client.preview(PreviewSettings("pattern-blocks", upload=str(local)), tmp_path)
    box = [0, 5, 5, 1, 40, 40]
    result = client.preview(PreviewSettings("pattern-blocks", upload=str(local), box=box), tmp_path)
    assert result.path.name == "breast1-pattern-blocks-protected.nii"
    assert read_nifti(result.path).array.shape == read_nifti(local).array.shape


def test_preview_runs_off_the_main_thread(client: MedUEClient, tmp_path) -> None:
    call = BackgroundCall(client.preview, PreviewSettings("random", image_id="breast1"), tmp_path)
    ticks = 0
    while not call.done:  # the panel's timer: the main thread stays free
        ticks += 1
        time.sleep(0.02)
    assert call.result().metrics["max_abs_change"] > 0 and ticks > 0
    failing = BackgroundCall(client.preview, PreviewSettings("random", image_id="nobody"))
    with pytest.raises(ImageMissing, match="'nobody' is not on this server"):
        failing.wait(60)


def test_unknown_images_are_one_clear_message(client: MedUEClient, tmp_path) -> None:
    with pytest.raises(ImageMissing, match="image 'nobody' is not on this server"):
        client.preview(PreviewSettings("pattern-blocks", image_id="nobody"))
    with pytest.raises(ImageMissing, match="image 'nobody' is not on this server"):
        client.download_image("nobody", tmp_path)
    with pytest.raises(ImageMissing, match="image 'nobody' is not on this server"):
        client.submit(JobRequest(images=["nobody"]))
    with pytest.raises(ImageMissing, match="no protected copy of 'nobody'"):
        client.download_result("nobody", tmp_path)
    with pytest.raises(RequestRefused, match="positive number"):
        client.preview(PreviewSettings("pattern-blocks", image_id="brain2", epsilon=-1))
    assert list(tmp_path.iterdir()) == []


def test_job_progress_then_export(client: MedUEClient, medue_server, tmp_path) -> None:
    status = client.submit(JobRequest(preset="strong", roi=labels_roi([1]), export="slicer-strong"))
    assert status.export == "slicer-strong" and not status.finished
    with pytest.raises(RequestRefused, match=f"job {status.id} is still"):
        client.submit(JobRequest(preset="strong"))  # one job per dataset at a time
    monitor = JobMonitor(client, status.id)
    seen = []
    while not seen or not seen[-1].finished:
        seen.append(monitor.poll())
        time.sleep(0.3)
    final = seen[-1]
    assert final.warning is None and final.percent == 100
    assert final.text == "finished: 2 of 2 images protected"
    assert all(0 <= p.fraction <= 1 for p in seen)
    assert any(p.text.startswith(("writing the protected", "reading the images")) for p in seen)
    assert [i["status"] for i in final.status.images] == ["done", "done"]
    export = ExportTask.for_job(client, final.status, tmp_path / "out")
    steps = [export.step() for _ in range(2)]
    assert export.finished and export.step() is None and export.problems == []
    for path in steps:
        written = medue_server.export / "slicer-strong" / path.name
        assert _sha(path) == _sha(written)
    original = read_nifti(medue_server.studies / "brain2.nii.gz").array
    copy = read_nifti(tmp_path / "out" / "brain2.nii.gz").array
    assert copy.dtype == original.dtype and np.abs(copy - original.astype(float)).max() > 0
    assert "exported 2 of 2" in export.describe()
    assert "slicer-strong" in client.releases()
    assert client.manifest(status.id)["settings"]["budget"]["preset"] == "strong"
    missing = ExportTask(client, ["brain2", "nobody"], tmp_path / "again", "slicer-strong")
    assert missing.run() == [tmp_path / "again" / "brain2.nii.gz"]
    assert "nobody" in missing.problems[0] and "not exported: nobody" in missing.describe()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cancel_stops_the_job(client: MedUEClient, tmp_path) -> None:
    status = client.submit(JobRequest(method="random", export="slicer-cancelled"))
    monitor = JobMonitor(client, status.id)
    assert monitor.cancel().cancel_requested
    progress = monitor.poll()
    while not progress.finished:
        time.sleep(0.3)
        progress = monitor.poll()
    assert progress.status.state == "cancelled" and progress.text.startswith("cancelled")
    with pytest.raises(RequestRefused, match="already cancelled"):
        monitor.cancel()
    with pytest.raises(RequestRefused, match="nothing to export"):
        ExportTask.for_job(client, progress.status, tmp_path)


def test_server_down_is_one_clear_message(tmp_path) -> None:
    down = MedUEClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerDown, match="cannot reach the server .* is it running"):
        down.connect()
    with pytest.raises(ServerDown):
        down.preview(PreviewSettings("pattern-blocks", image_id="brain2"))
    clock = [0.0]
    monitor = JobMonitor(down, "0123456789ab", patience=30, clock=lambda: clock[0])
    assert "does not answer" in monitor.poll().text  # a restarting server: keep trying
    clock[0] = 31.0
    with pytest.raises(ServerDown):
        monitor.poll()
    with pytest.raises(ServerDown):
        ExportTask(down, ["brain2"], tmp_path).step()


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        client = MedUEClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1)
        started = time.monotonic()
        with pytest.raises(ServerDown, match="did not answer within 1 s"):
            client.connect()
        assert time.monotonic() - started < 10
    finally:
        listener.close()


@pytest.mark.parametrize("url", ["", "not a url", "ftp://example.org", "http://", "http://h:x"])
def test_bad_urls_are_refused_before_any_request(url: str) -> None:
    with pytest.raises(BadUrl, match="not a server address"):
        MedUEClient(url)


def test_a_url_that_is_not_medue(medue_server: Server, realm) -> None:
    with pytest.raises(BadUrl, match="not as a MedUE server"):
        MedUEClient(medue_server.url + "/wrong/place").connect()
    with pytest.raises(BadUrl, match="not as a MedUE server"):
        MedUEClient(realm.uri.rsplit("/realms", 1)[0]).connect()  # an HTTP server, not MedUE
