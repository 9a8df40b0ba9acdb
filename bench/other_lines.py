#!/usr/bin/env python3
"""Line images drawn by other software, for a held-out OCR check lab's generator never made.

Draws N text lines with Python's PIL (another rasteriser, another cropping convention) in
system fonts that lab does not embed (GNU FreeFont, Charis SIL, Oxygen, Linux Libertine, Go
Mono, URW's Gothic, C059 and P052, Arimo), with texts from a list of its own (subjects,
names, rooms and times not taken from lab's lists), and writes OUT/labels.jsonl with every
line in the `test` split, ready for

    lab data import lines OUT --name other_lines
    lab compare ocr_teacher ocr_student tesseract --dataset other_lines --split test

Needs: pip install pillow; Debian fonts-freefont-ttf fonts-sil-charis fonts-oxygen
fonts-linuxlibertine fonts-go fonts-urw-base35 fonts-croscore. Fonts that are missing are
skipped (and named); with none, it exits 1. Seeded: the same N and seed give the same files.
"""
import argparse
import json
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerif.ttf",
    "/usr/share/fonts/truetype/freefont/FreeMono.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/charis/CharisSIL-Regular.ttf",
    "/usr/share/fonts/truetype/oxygen/Oxygen-Sans-Bold.ttf",
    "/usr/share/fonts/opentype/linux-libertine/LinLibertine_R.otf",
    "/usr/share/fonts/fonts-go/Go-Mono.ttf",
    "/usr/share/fonts/opentype/urw-base35/URWGothic-Book.otf",
    "/usr/share/fonts/opentype/urw-base35/C059-Italic.otf",
    "/usr/share/fonts/opentype/urw-base35/P052-Roman.otf",
    "/usr/share/fonts/truetype/croscore/Arimo-Regular.ttf",
]

SUBJECTS = [
    "Textiles", "Woodwork", "Citizenship", "Home Economics", "Media Studies", "Ethics",
    "Metalwork", "Graphic Communication", "Environmental Science", "Classical Civilisation",
    "Product Design", "Accounting", "Law", "Photography", "Dance", "Journalism", "Nutrition",
    "Geology", "Anatomy", "Marine Biology", "Quantum Mechanics", "Thermodynamics",
]
NAMES = [
    "Mr. Bryant", "Sir Jerome", "Mrs. Achterberg", "Dr. Quist", "Ms. Yelverton",
    "Prof. Zwicky", "Mme Béranger", "Herr Grünewald", "Dr. Wojtyła", "Ms. Vázquez",
    "Mr. Ó Ceallaigh", "J. Pemberton", "K. Xiong", "Dr. A. Fairweather", "Mrs. Underhill",
]
ROOMS = ["Room F6", "C321", "MB 1", "ITC02", "Hall B", "Lab 7", "B-117", "S2.14", "Annex 3", "W.G.05"]
DAYS = ["Monday", "TUE", "Wed", "THURSDAY", "Fri.", "Saturday", "Mardi", "Donnerstag"]


def clock(rng):
    h = rng.randrange(7, 18)
    m = rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50])
    e = h + 1
    form = rng.randrange(5)
    if form == 0:
        return f"{h:02d}:{m:02d}–{e:02d}:{m:02d}"
    if form == 1:
        return f"{h}:{m:02d} - {e}:{m:02d}"
    if form == 2:
        a = "AM" if h < 12 else "PM"
        return f"{(h - 1) % 12 + 1:02d}:{m:02d} {a}"
    if form == 3:
        return f"{h}.{m:02d}"
    return f"{h:02d}:{m:02d}"


def text(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(SUBJECTS)
    if kind == 1:
        return rng.choice(NAMES)
    if kind == 2:
        return rng.choice(ROOMS)
    if kind == 3:
        return rng.choice(DAYS)
    if kind == 4:
        return clock(rng)
    return f"{rng.choice(SUBJECTS)} ({rng.choice(ROOMS)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    fonts = [f for f in FONTS if os.path.exists(f)]
    for f in FONTS:
        if f not in fonts:
            print(f"skipped (not installed): {f}", file=sys.stderr)
    if not fonts:
        sys.exit("no font of the list is installed")
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for i in range(a.n):
        t = text(rng)
        font = ImageFont.truetype(rng.choice(fonts), rng.randrange(14, 42))
        dark = rng.random() < 0.8
        paper = rng.randrange(215, 256) if dark else rng.randrange(20, 90)
        ink = rng.randrange(0, 70) if dark else rng.randrange(200, 256)
        x0, y0, x1, y1 = font.getbbox(t)
        pad = rng.randrange(2, 12)
        im = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), paper)
        ImageDraw.Draw(im).text((pad - x0, pad - y0), t, font=font, fill=ink)
        name = f"line_{i:04d}.png"
        im.save(os.path.join(a.out, name))
        rows.append({"image": name, "text": t, "split": "test"})
    with open(os.path.join(a.out, "labels.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} lines in {len(fonts)} fonts → {a.out}/labels.jsonl")


if __name__ == "__main__":
    main()
