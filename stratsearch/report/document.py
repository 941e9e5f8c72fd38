"""A report as sections of blocks, rendered to one self-contained HTML file and a Markdown twin.

HTML embeds its figures as base64 PNG data and its style inline, and has no scripts, so it
opens anywhere without a network. Markdown references the same figures as files beside it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from stratsearch import faults, files


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[tuple[str, str]]  # (statement, evidence)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns


@dataclass
class Figure:
    name: str  # file stem for the Markdown twin
    png: bytes
    caption: str


@dataclass
class Columns:
    """Blocks side by side (one column per run in `compare`); stacked in Markdown."""

    columns: list[tuple[str, list[Block]]]


Block = Paragraph | Bullets | Table | Figure | Columns


@dataclass
class Section:
    title: str
    blocks: list[Block]


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #666; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
li { margin-bottom: 0.35rem; } .evidence { color: #777; font-size: 0.85rem; }
.columns { display: flex; gap: 1.5rem; align-items: flex-start; } .columns > div { flex: 1; min-width: 0; }
"""


def e(text: str) -> str:
    return html.escape(str(text))


def block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{e(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(
            f"<li>{e(text)}" + (f' <span class="evidence">({e(ev)})</span>' if ev else "") + "</li>"
            for text, ev in block.items
        )
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{e(h)}</th>" for h in block.header) if any(block.header) else ""
        body = "".join(
            "<tr>"
            + "".join(f"<td{' class=num' if i in block.numeric else ''}>{e(c)}</td>" for i, c in enumerate(row))
            + "</tr>"
            for row in block.rows
        )
        thead = f"<thead><tr>{head}</tr></thead>" if head else ""
        return f"<table>{thead}<tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{e(block.caption)}">'
            f"<figcaption>{e(block.caption)}</figcaption></figure>"
        )
    inner = "".join(
        f"<div><h3>{e(title)}</h3>{''.join(block_html(b) for b in blocks)}</div>" for title, blocks in block.columns
    )
    return f'<div class="columns">{inner}</div>'


def to_html(doc: Document) -> str:
    sections = "".join(
        f"<section><h2>{e(s.title)}</h2>{''.join(block_html(b) for b in s.blocks)}</section>" for s in doc.sections
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(doc.title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f'<body><h1>{e(doc.title)}</h1><p class="subtitle">{e(doc.subtitle)}</p>{sections}</body></html>\n'
    )


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def block_markdown(block: Block, image_dir: Path, level: int = 3) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {text}" + (f" _({ev})_" if ev else "") for text, ev in block.items)
    if isinstance(block, Table):
        align = ["---:" if i in block.numeric else "---" for i in range(len(block.header))]
        lines = ["| " + " | ".join(md_cell(h) for h in block.header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Figure):
        image_dir.mkdir(parents=True, exist_ok=True)
        (image_dir / f"{block.name}.png").write_bytes(block.png)
        return f"![{block.caption}]({image_dir.name}/{block.name}.png)"
    return "\n\n".join(
        f"{'#' * level} {title}\n\n" + "\n\n".join(block_markdown(b, image_dir, level + 1) for b in blocks)
        for title, blocks in block.columns
    )


def to_markdown(doc: Document, image_dir: Path) -> str:
    """The Markdown twin; figures are written into `image_dir` (a folder beside the .md file)."""
    parts = [f"# {doc.title}", f"_{doc.subtitle}_"]
    for section in doc.sections:
        parts.append(f"## {section.title}")
        parts += [block_markdown(b, image_dir) for b in section.blocks]
    return "\n\n".join(parts) + "\n"


def write(doc: Document, html_path: Path) -> tuple[Path, Path]:
    """Write NAME.html and NAME.md (figures in NAME_files/) side by side."""
    html_path.parent.mkdir(parents=True, exist_ok=True)
    md_path = html_path.with_suffix(".md")
    image_dir = html_path.with_name(f"{html_path.stem}_files")
    files.write_text(html_path, to_html(doc))
    faults.point("report.write")
    files.write_text(md_path, to_markdown(doc, image_dir))
    return html_path, md_path
