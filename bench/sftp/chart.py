"""Bar chart of `./fork bench sftp` results (run by the patched environment, which has matplotlib).

python chart.py RESULTS_JSON PNG

Contenders that ran on a subset of the files (one SSH connection per file, mapped SFTPOperator) are
labelled with their file count (and hatched, where their bar is wide enough to show it); their bars
are files/s like the others.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"openssh": "#888888", "base": "#c0504d", "fork": "#4f81bd"}


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.1 else f"1/{1 / value:.0f}"


def main(results: str, png: str) -> None:
    with open(results) as f:
        data = json.load(f)
    total = data["files"]
    bars = [
        {"label": r["label"], "env": r["env"], "files": r.get("files", total), "files_s": r["files_s"]}
        for r in data["rows"]
    ]
    bars += [
        {
            "label": f"mapped SFTPOperator ({m['label']})",
            "env": m["env"],
            "files": m["files"],
            "files_s": m["files_s"],
        }
        for m in data.get("mapped_operator", [])
    ]
    reference = next((r["files_s"] for r in data["rows"] if r["name"] == "openssh"), None)
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(bars) + 1.8))
    drawn = ax.barh(
        [b["label"] + (f"\n[first {b['files']} files]" if b["files"] < total else "") for b in bars],
        [b["files_s"] for b in bars],
        color=[COLORS[b["env"]] for b in bars],
        hatch=["//" if b["files"] < total else "" for b in bars],
        edgecolor="white",
    )
    for bar, b in zip(drawn, bars, strict=True):
        text = f" {b['files_s']:.0f} files/s" if b["files_s"] >= 10 else f" {b['files_s']:.2f} files/s"
        if reference:
            text += f"  ({_ratio(b['files_s'] / reference)} OpenSSH)"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("files/s, best of rounds (higher is better); [first N files]: ran on that subset")
    ax.set_title(
        f"SFTP download of {total} files (2-20 KB) from a loopback OpenSSH sshd, {data['rounds']} round(s)",
        fontsize=10,
    )
    ax.set_xlim(0, max(b["files_s"] for b in bars) * 1.5)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
