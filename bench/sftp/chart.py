"""Bar chart of `./fork bench sftp` results (run by the patched environment, which has matplotlib).

python chart.py RESULTS_JSON PNG
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"openssh": "#888888", "base": "#c0504d", "fork": "#4f81bd"}


def main(results: str, png: str) -> None:
    with open(results) as f:
        data = json.load(f)
    rows = data["rows"]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.6))
    bars = ax.barh(
        [r["label"] for r in rows], [r["files_s"] for r in rows], color=[COLORS[r["env"]] for r in rows]
    )
    for bar, r in zip(bars, rows, strict=True):
        text = f" {r['files_s']:.0f} files/s"
        if r.get("vs_openssh"):
            text += f"  ({r['vs_openssh']:.2f}x OpenSSH)"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("files/s, best of rounds (higher is better)")
    ax.set_title(
        f"SFTP download of {data['files']} files (2-20 KB) from a loopback OpenSSH sshd, "
        f"{data['rounds']} round(s)",
        fontsize=10,
    )
    ax.set_xlim(0, max(r["files_s"] for r in rows) * 1.5)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
