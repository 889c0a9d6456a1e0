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
    metric = data.get("metric", "files_s")
    unit = "MB/s" if metric == "mb_s" else "files/s"
    sets = list(dict.fromkeys(r.get("data_set", "") for r in data["rows"]))
    bars = []
    for r in data["rows"]:
        label = r["label"]
        if r.get("condition", "idle") != "idle":
            label += f" [{r['condition']}]"
        if len(sets) > 1:
            label += f" ({r['data_set']})"
        reference = next(
            (
                o[metric]
                for o in data["rows"]
                if o["name"]
                == (
                    "openssh-put"
                    if r["name"].startswith(
                        ("openssh-put", "fork-put", "fork-bulk-put")
                    )
                    else "openssh"
                )
                and o.get("condition") == r.get("condition")
                and o.get("data_set") == r.get("data_set")
            ),
            None,
        )
        bars.append(
            {
                "label": label,
                "env": r["env"],
                "files": r.get("files", total),
                "value": r[metric],
                "ref": reference,
            }
        )
    bars += [
        {
            "label": f"mapped SFTPOperator ({m['label']})",
            "env": m["env"],
            "files": m["files"],
            "value": m["files_s"],
            "ref": next(
                (o["files_s"] for o in data["rows"] if o["name"] == "openssh"), None
            ),
        }
        for m in data.get("mapped_operator", [])
        if metric == "files_s"
    ]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(bars) + 2.0))
    drawn = ax.barh(
        [
            b["label"] + (f"\n[first {b['files']} files]" if b["files"] < total else "")
            for b in bars
        ],
        [b["value"] for b in bars],
        color=[COLORS[b["env"]] for b in bars],
        hatch=["//" if b["files"] < total else "" for b in bars],
        edgecolor="white",
    )
    for bar, b in zip(drawn, bars, strict=True):
        text = (
            f" {b['value']:.0f} {unit}"
            if b["value"] >= 10
            else f" {b['value']:.2f} {unit}"
        )
        if b["ref"]:
            text += f"  ({_ratio(b['value'] / b['ref'])} OpenSSH)"
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            text,
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel(
        f"{unit}, best of rounds (higher is better); [first N files]: ran on that subset"
    )
    load = data.get("load_average", {})
    when = (
        f"; load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after"
        if load
        else ""
    )
    what = ", ".join(sets) if sets and sets[0] else f"{total} files (2-20 KB)"
    ax.set_title(
        f"SFTP transfers of {what} over a loopback OpenSSH sshd, {data['rounds']} round(s){when}\n"
        "[loaded]: with a CPU hog on one core; ratios against OpenSSH sftp in the same direction and condition",
        fontsize=9,
    )
    ax.set_xlim(0, max(b["value"] for b in bars) * 1.6)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
