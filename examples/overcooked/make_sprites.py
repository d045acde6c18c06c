"""Draw the Overcooked examples' sprites with Pillow: sprites.png and sprites.json (a JSON-hash atlas).

Run `python examples/overcooked/make_sprites.py [--out-dir DIR]`; the output is the same on every run.
Everything is drawn here from circles, rectangles and polygons: chefs in two colours facing four ways,
onions, tomatoes, plates, soups, counters, crates, the plate stack, the serving window and pots empty,
filling and cooking (four stages) and done. Frames are TILE pixels square with PAD pixels between them,
so that a frame drawn larger than it is never samples its neighbours.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

TILE = 80
PAD = 2
COLUMNS = 8
OUT_DIR = Path(__file__).resolve().parent
CHEFS = {"blue": (52, 120, 220), "green": (46, 160, 90)}
FACING = ("up", "down", "left", "right")
COOKING_STAGES = 4

Drawing = Callable[[ImageDraw.ImageDraw], None]


def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """A rectangle in fractions of the tile, in pixels."""
    return [x0 * TILE, y0 * TILE, x1 * TILE - 1, y1 * TILE - 1]


def floor(d: ImageDraw.ImageDraw) -> None:
    d.rectangle(box(0, 0, 1, 1), fill=(226, 214, 190))
    d.line([(0, TILE - 1), (TILE - 1, TILE - 1)], fill=(204, 190, 162), width=2)
    d.line([(TILE - 1, 0), (TILE - 1, TILE - 1)], fill=(204, 190, 162), width=2)


def counter(d: ImageDraw.ImageDraw) -> None:
    d.rectangle(box(0, 0, 1, 1), fill=(150, 104, 66))
    d.rectangle(box(0.06, 0.06, 0.94, 0.94), fill=(186, 136, 92), outline=(120, 80, 48), width=2)


def onion(d: ImageDraw.ImageDraw, cx: float = 0.5, cy: float = 0.55, r: float = 0.2) -> None:
    d.ellipse(box(cx - r, cy - r, cx + r, cy + r), fill=(214, 170, 60), outline=(150, 100, 30), width=2)
    d.polygon([(cx * TILE, (cy - r - 0.1) * TILE), ((cx - 0.05) * TILE, (cy - r + 0.02) * TILE),
               ((cx + 0.05) * TILE, (cy - r + 0.02) * TILE)], fill=(90, 150, 60))  # fmt: skip


def tomato(d: ImageDraw.ImageDraw, cx: float = 0.5, cy: float = 0.55, r: float = 0.2) -> None:
    d.ellipse(box(cx - r, cy - r, cx + r, cy + r), fill=(214, 50, 40), outline=(140, 20, 20), width=2)
    d.ellipse(box(cx - 0.06, cy - r - 0.03, cx + 0.06, cy - r + 0.05), fill=(70, 140, 50))


def plate(d: ImageDraw.ImageDraw, cy: float = 0.55) -> None:
    d.ellipse(box(0.18, cy - 0.2, 0.82, cy + 0.2), fill=(245, 245, 245), outline=(170, 170, 180), width=2)
    d.ellipse(box(0.3, cy - 0.11, 0.7, cy + 0.11), outline=(210, 210, 220), width=2)


def soup(color: tuple[int, int, int]) -> Drawing:
    def draw(d: ImageDraw.ImageDraw) -> None:
        plate(d)
        d.ellipse(box(0.3, 0.44, 0.7, 0.66), fill=color)
        d.arc(box(0.36, 0.2, 0.5, 0.4), 200, 340, fill=(250, 250, 250), width=2)  # steam
        d.arc(box(0.5, 0.18, 0.64, 0.38), 200, 340, fill=(250, 250, 250), width=2)

    return draw


def crate(item: Drawing) -> Drawing:
    def draw(d: ImageDraw.ImageDraw) -> None:
        counter(d)
        d.rectangle(box(0.12, 0.3, 0.88, 0.9), fill=(120, 84, 50), outline=(80, 52, 30), width=3)
        for x in (0.32, 0.5, 0.68):
            item(d, x, 0.42, 0.13)  # type: ignore[call-arg]

    return draw


def plate_stack(d: ImageDraw.ImageDraw) -> None:
    counter(d)
    for i in range(3):
        plate(d, 0.7 - 0.1 * i)


def delivery(d: ImageDraw.ImageDraw) -> None:
    d.rectangle(box(0, 0, 1, 1), fill=(70, 70, 80))
    d.rectangle(box(0.08, 0.08, 0.92, 0.92), fill=(120, 200, 120), outline=(40, 120, 40), width=3)
    d.polygon([(0.5 * TILE, 0.25 * TILE), (0.7 * TILE, 0.5 * TILE), (0.56 * TILE, 0.5 * TILE),
               (0.56 * TILE, 0.75 * TILE), (0.44 * TILE, 0.75 * TILE), (0.44 * TILE, 0.5 * TILE),
               (0.3 * TILE, 0.5 * TILE)], fill=(250, 250, 250))  # fmt: skip


def pot(onions: int, cooking: int | None = None, done: bool = False) -> Drawing:
    """A pot on a counter with `onions` in it; `cooking`: the stage of a full pot (0..3), `done`: ready."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        counter(d)
        d.ellipse(box(0.12, 0.3, 0.88, 0.9), fill=(60, 60, 66), outline=(30, 30, 34), width=3)
        d.ellipse(box(0.2, 0.36, 0.8, 0.62), fill=(40, 40, 44))
        d.rectangle(box(0.02, 0.5, 0.14, 0.58), fill=(30, 30, 34))
        d.rectangle(box(0.86, 0.5, 0.98, 0.58), fill=(30, 30, 34))
        if done:
            d.ellipse(box(0.22, 0.38, 0.78, 0.6), fill=(232, 180, 70))
        elif cooking is not None:
            d.ellipse(box(0.22, 0.38, 0.78, 0.6), fill=(200, 150, 60))
            d.rectangle(box(0.15, 0.08, 0.85, 0.2), fill=(40, 40, 40))
            d.rectangle(box(0.16, 0.09, 0.16 + 0.68 * (cooking + 1) / COOKING_STAGES, 0.19), fill=(250, 150, 40))
        else:
            for i in range(onions):
                onion(d, 0.32 + 0.18 * i, 0.48, 0.1)

    return draw


def chef(color: tuple[int, int, int], facing: str) -> Drawing:
    """A chef seen from above: white hat, coloured shirt, hands and eyes towards `facing`."""
    dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[facing]
    dark = tuple(int(c * 0.6) for c in color)

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.ellipse(box(0.18, 0.22, 0.82, 0.86), fill=color, outline=dark, width=3)  # shoulders
        for side in (-1, 1):  # hands, ahead of the body
            hx = 0.5 + 0.22 * dx + 0.2 * side * (dy != 0)
            hy = 0.54 + 0.22 * dy + 0.2 * side * (dx != 0)
            d.ellipse(box(hx - 0.07, hy - 0.07, hx + 0.07, hy + 0.07), fill=(240, 200, 160), outline=dark, width=2)
        d.ellipse(box(0.3, 0.3, 0.7, 0.7), fill=(240, 200, 160), outline=(160, 120, 90), width=2)  # head
        d.ellipse(box(0.34, 0.2, 0.66, 0.48), fill=(250, 250, 250), outline=(180, 180, 180), width=2)  # hat
        for side in (-1, 1):  # eyes, looking the way the chef faces
            ex = 0.5 + 0.12 * dx + 0.07 * side * (dy != 0)
            ey = 0.56 + 0.1 * dy + 0.07 * side * (dx != 0)
            if dy >= 0 or dx:
                d.ellipse(box(ex - 0.025, ey - 0.025, ex + 0.025, ey + 0.025), fill=(30, 30, 30))

    return draw


def item(draw_item: Callable[..., None]) -> Drawing:
    return lambda d: draw_item(d)


def drawings() -> dict[str, Drawing]:
    """Every frame by name."""
    frames: dict[str, Drawing] = {
        "floor": floor, "counter": counter, "onion_crate": crate(onion), "tomato_crate": crate(tomato),
        "plate_stack": plate_stack, "delivery": delivery, "onion": item(onion), "tomato": item(tomato),
        "plate": item(plate), "onion_soup": soup((232, 180, 70)), "tomato_soup": soup((210, 70, 50)),
        "pot_done": pot(3, done=True),
    }  # fmt: skip
    frames |= {f"pot_{n}": pot(n) for n in range(3)}
    frames |= {f"pot_cooking_{s}": pot(3, cooking=s) for s in range(COOKING_STAGES)}
    frames |= {f"chef_{name}_{way}": chef(color, way) for name, color in CHEFS.items() for way in FACING}
    return frames


def build() -> tuple[Image.Image, dict]:
    """The sheet and its JSON-hash frame list."""
    frames = drawings()
    rows = -(-len(frames) // COLUMNS)
    stride = TILE + PAD
    sheet = Image.new("RGBA", (COLUMNS * stride, rows * stride), (0, 0, 0, 0))
    entries = {}
    for index, (name, draw) in enumerate(frames.items()):
        tile = Image.new("RGBA", (TILE, TILE), (0, 0, 0, 0))
        draw(ImageDraw.Draw(tile))
        x, y = (index % COLUMNS) * stride, (index // COLUMNS) * stride
        sheet.paste(tile, (x, y))
        entries[name] = {"frame": {"x": x, "y": y, "w": TILE, "h": TILE}, "rotated": False, "trimmed": False,
                         "sourceSize": {"w": TILE, "h": TILE}}  # fmt: skip
    meta = {"app": "examples/overcooked/make_sprites.py", "image": "sprites.png", "format": "RGBA8888",
            "size": {"w": sheet.width, "h": sheet.height}, "scale": "1"}  # fmt: skip
    return sheet, {"frames": entries, "meta": meta}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    sheet, frames = build()
    sheet.save(args.out_dir / "sprites.png", optimize=True)
    (args.out_dir / "sprites.json").write_text(json.dumps(frames, indent=1) + "\n")
    print(f"wrote {args.out_dir / 'sprites.png'} ({len(frames['frames'])} frames) and sprites.json")


if __name__ == "__main__":
    main()
