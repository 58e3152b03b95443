"""Classification datasets: the CSV and class-folder layouts, and every refusal they can give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medue.class_datasets import class_names, discover_classified
from medue.errors import InputError
from tests.io.dicom_builders import ct_series, ramp


def image(path: Path, shape: tuple[int, ...] = (4, 5)) -> Path:
    """A tiny real image file (2D by default; give three sizes for a volume)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(shape, np.int16)), str(path))
    return path


def series(folder: Path) -> Path:
    """A tiny real DICOM CT series (2 slices of 4x4) in ``folder``."""
    ct_series(folder, ramp((2, 4, 4)))
    return folder


def table(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def summary(cases) -> list[tuple[str, str | None, str | None]]:
    return [(c.image_id, c.category, c.problem) for c in cases]


def problems(cases) -> dict[str, str]:
    return {c.image_id: c.problem for c in cases if c.problem}


def test_csv_layout_with_volumes_2d_images_and_a_dicom_series(tmp_path):
    image(tmp_path / "a.nii.gz", (3, 4, 5))
    image(tmp_path / "scans" / "b.nrrd")
    image(tmp_path / "scans" / "c.mha")
    series(tmp_path / "ct" / "s1.2")  # a dot in a folder name is not an extension
    image(tmp_path / "unlisted.nii.gz")  # not in the CSV: not part of the dataset
    table(
        tmp_path / "labels.csv",
        " Image ,LABEL , notes",
        "a.nii.gz, benign ,first",
        "scans/b.nrrd,03,",
        f"{tmp_path / 'scans' / 'c.mha'},3,absolute path",
        "ct/s1.2,benign",
    )
    cases = discover_classified(tmp_path)
    assert summary(cases) == [
        ("a", "benign", None),
        ("ct_s1.2", "benign", None),
        ("scans_b", "3", None),
        ("scans_c", "3", None),
    ]
    assert cases[1].image == tmp_path / "ct" / "s1.2" and all(c.label is None for c in cases)
    assert class_names(cases) == ("3", "benign")


def test_csv_argument_semicolons_and_a_csv_outside_the_folder(tmp_path):
    data = tmp_path / "data"
    image(data / "x.nii")
    image(data / "y.nii")
    labels = table(
        tmp_path / "meta" / "labels.csv", "image;label", "../data/x.nii;0", "../data/y.nii;1"
    )
    table(data / "other.csv", "image,label")  # ignored: the csv argument names the table
    cases = discover_classified(data, csv=labels)
    assert summary(cases) == [("x", "0", None), ("y", "1", None)]
    # a relative csv argument not found from the working folder is looked for in the dataset
    table(data / "again.csv", "image,label", "x.nii,cat", "y.nii,dog")
    assert [c.category for c in discover_classified(data, csv="again.csv")] == ["cat", "dog"]


def test_class_folders_nested_with_a_dicom_series_and_ignored_files(tmp_path):
    image(tmp_path / "benign" / "a.nii.gz")
    image(tmp_path / "benign" / "p1" / "visit 2" / "b.nii.gz", (2, 3, 3))
    image(tmp_path / "benign" / ".hidden" / "h.nii.gz")
    image(tmp_path / "benign" / ".h.nii.gz")
    series(tmp_path / "malignant" / "p7" / "ct")
    (tmp_path / "malignant" / "README.md").write_text("notes")
    (tmp_path / "malignant" / "index.json").write_text("{}")
    image(tmp_path / ".cache" / "c.nii.gz")  # a hidden folder is not a class
    cases = discover_classified(tmp_path)
    assert summary(cases) == [
        ("benign_a", "benign", None),
        ("benign_p1_visit 2_b", "benign", None),
        ("malignant_p7_ct", "malignant", None),
    ]
    assert cases[2].image == tmp_path / "malignant" / "p7" / "ct"
    assert class_names(cases) == ("benign", "malignant")


def test_integer_classes_are_canonical_and_sorted_by_value(tmp_path):
    for name in ("03", "3", "10", " 2", "+2", "a"):
        image(tmp_path / name / "x.nii")
    cases = discover_classified(tmp_path)
    assert [c.category for c in cases] == ["2", "2", "3", "10", "3", "a"]  # by id: " 2_x" first
    assert class_names(cases) == ("2", "3", "10", "a")


def test_bad_csv_rows_are_refused_one_by_one(tmp_path):
    image(tmp_path / "a.nii.gz")
    image(tmp_path / "b.nii.gz")
    image(tmp_path / "c.nii.gz")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "slice.dcm").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    for name in "defghijk":
        image(tmp_path / f"{name}.nii.gz")
    table(
        tmp_path / "t.csv",
        "image,label",  # row 1
        "a.nii.gz,cat",
        "b.nii.gz,dog",
        "missing.nii.gz,cat",
        "notes.txt,cat",  # row 5
        "slice.dcm,cat",
        "empty,cat",
        "a.nii.gz,cat",
        "./b.nii.gz,cat",
        "d.nii.gz,",  # row 10
        "e.nii.gz,2.5",
        "f.nii.gz,nan",
        "g.nii.gz,NaN",
        "h.nii.gz,-inf",
        ",cat",  # row 15
        "",
        "c.nii.gz,dog",  # row 17: blank row 16 still counted
        "i.nii.gz,1e3",
        "j.nii.gz,007",
    )
    cases = discover_classified(tmp_path)
    found = problems(cases)
    neither = "is neither a class name nor an integer (decimal numbers, nan and inf are refused)"
    assert found == {
        "missing": "t.csv row 4: does not exist",
        "notes.txt": "t.csv row 5: not an image file (expected .nii.gz, .nii, .hdr, .nrrd, "
        ".nhdr, .mha, .mhd, or a DICOM series folder)",
        "slice.dcm": "t.csv row 6: not an image file (expected .nii.gz, .nii, .hdr, .nrrd, "
        ".nhdr, .mha, .mhd, or a DICOM series folder); for DICOM name the series folder",
        "empty": "t.csv row 7: folder holds no DICOM series "
        "(name an image file or a DICOM series folder)",
        "a (row 8)": "t.csv row 8: repeats the image of row 2 (same label)",
        "b (row 9)": "t.csv row 9: repeats the image of row 3 with a different label "
        "('dog' there, 'cat' here)",
        "b": "t.csv row 3: row 9 gives it another label ('cat'); which class is right?",
        "d": "t.csv row 10: label is empty",
        "e": f"t.csv row 11: label '2.5' {neither}",
        "f": f"t.csv row 12: label 'nan' {neither}",
        "g": f"t.csv row 13: label 'NaN' {neither}",
        "h": f"t.csv row 14: label '-inf' {neither}",
        "(row 15)": "t.csv row 15: no image given",
        "i": f"t.csv row 18: label '1e3' {neither}",  # the blank row 16 is counted
    }
    assert next(c for c in cases if c.image_id == "missing").image == tmp_path / "missing.nii.gz"
    usable = [c for c in cases if not c.problem]
    assert summary(usable) == [
        ("a", "cat", None),
        ("c", "dog", None),
        ("j", "7", None),
    ]
    assert class_names(cases) == ("7", "cat", "dog")


def test_two_images_with_one_id_are_both_refused_naming_the_other(tmp_path):
    image(tmp_path / "x" / "a.nii.gz")
    image(tmp_path / "x_a.nii.gz")
    image(tmp_path / "ok1.nii")
    image(tmp_path / "ok2.nii")
    table(
        tmp_path / "t.csv", "image,label", "x/a.nii.gz,1", "x_a.nii.gz,1", "ok1.nii,1", "ok2.nii,2"
    )
    found = [c.problem for c in discover_classified(tmp_path) if c.problem]
    assert found == [
        "t.csv row 2: another image has the same id 'x_a' (row 3 (x_a.nii.gz)); rename one so "
        "that each image has its own record",
        "t.csv row 3: another image has the same id 'x_a' (row 2 (x/a.nii.gz)); rename one so "
        "that each image has its own record",
    ]
    folders = tmp_path / "folders"
    image(folders / "cat" / "a.nii.gz")
    image(folders / "cat" / "a.nrrd")
    image(folders / "cat" / "b.nrrd")
    image(folders / "dog" / "b.nrrd")
    cases = discover_classified(folders)
    assert [(c.image.name, c.problem) for c in cases if c.problem] == [
        (
            "a.nii.gz",
            "another image has the same id 'cat_a' (cat/a.nrrd); rename one so that "
            "each image has its own record",
        ),
        (
            "a.nrrd",
            "another image has the same id 'cat_a' (cat/a.nii.gz); rename one so that "
            "each image has its own record",
        ),
    ]
    assert [c.image_id for c in cases if not c.problem] == ["cat_b", "dog_b"]


def test_two_headers_sharing_one_data_file_are_refused(tmp_path):
    image(tmp_path / "cat" / "a.mhd")
    (tmp_path / "cat" / "b.mhd").write_bytes((tmp_path / "cat" / "a.mhd").read_bytes())
    image(tmp_path / "cat" / "c.nii")
    image(tmp_path / "dog" / "d.nii")
    cases = discover_classified(tmp_path)
    assert [(c.image_id, c.problem) for c in cases] == [
        ("cat_a", "shares its data file a.raw with b.mhd; each image needs its own"),
        ("cat_b", "shares its data file a.raw with a.mhd; each image needs its own"),
        ("cat_c", None),
        ("dog_d", None),
    ]


def test_an_empty_class_folder_and_a_loose_image_are_reported_and_the_rest_processed(tmp_path):
    image(tmp_path / "cat" / "a.nii")
    image(tmp_path / "dog" / "b.nii")
    (tmp_path / "bird" / "sub").mkdir(parents=True)
    (tmp_path / "bird" / "README").write_text("to do")
    image(tmp_path / "loose.nii")
    cases = discover_classified(tmp_path)
    assert summary(cases) == [
        ("bird_(no images)", "bird", "class folder 'bird' holds no images"),
        ("cat_a", "cat", None),
        ("dog_b", "dog", None),
        ("loose", None, "image is not in a class sub-folder"),
    ]
    assert cases[0].image == tmp_path / "bird"
    assert class_names(cases) == ("cat", "dog")


def error(folder, csv=None) -> str:
    with pytest.raises(InputError) as raised:
        discover_classified(folder, csv)
    return str(raised.value)


def test_whole_dataset_errors(tmp_path):
    assert error(tmp_path / "nope") == f"{tmp_path / 'nope'}: path does not exist"
    assert error(image(tmp_path / "f.nii")).endswith("f.nii: not a folder")
    only_files = tmp_path / "flat"
    image(only_files / "a.nii")
    assert error(only_files).startswith(f"{only_files}: no CSV file and no class sub-folders")
    assert error(only_files, "none.csv") == "none.csv: CSV file does not exist"
    assert error(only_files, only_files).endswith(
        "flat: not a file (expected the CSV listing the images)"
    )
    table(only_files / "one.csv", "path,class", "a.nii,1")
    table(only_files / "two.CSV", "image,label", "a.nii,1")
    assert error(only_files) == (
        f"{only_files}: holds 2 CSV files (one.csv, two.CSV); pass the one listing the images "
        "and their labels with --classes FILE"
    )
    assert error(only_files, only_files / "one.csv") == (
        f"{only_files / 'one.csv'}: has no 'image' and 'label' columns in its header row "
        "(found: path,class)"
    )
    cases = {
        "empty.csv": ("\n  \n", "CSV file is empty"),
        "header.csv": (
            "image,label\n,\n",
            "the CSV lists no images (it has a header row and no rows)",
        ),
        "latin.csv": ("image,label\ncaf\xe9.nii,1\n", "not a readable CSV file (not UTF-8 text)"),
    }
    for name, (text, message) in cases.items():
        path = only_files / name
        path.write_bytes(text.encode("latin-1"))
        assert error(only_files, path) == f"{path}: {message}"
    table(only_files / "bad.csv", "image,label", "missing.nii,1", "a.nii,")
    assert error(only_files, only_files / "bad.csv") == (
        f"{only_files / 'bad.csv'}: no usable image: all 2 refused (the first: a.nii: "
        "bad.csv row 3: label is empty)"
    )
    table(only_files / "single.csv", "image,label", "a.nii,03")
    assert error(only_files, only_files / "single.csv") == (
        f"{only_files / 'single.csv'}: a classification dataset needs at least two classes; "
        "found only '3'"
    )


def test_one_class_folder_or_none_usable_is_refused(tmp_path):
    image(tmp_path / "cat" / "a.nii")
    (tmp_path / "dog").mkdir()
    assert error(tmp_path) == (
        f"{tmp_path}: a classification dataset needs at least two classes; found only 'cat'"
    )
    (tmp_path / "cat" / "a.nii").unlink()
    assert error(tmp_path).startswith(
        f"{tmp_path}: no usable image: all 2 refused (the first: cat:"
    )
