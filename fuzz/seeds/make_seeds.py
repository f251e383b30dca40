"""Makes the small seed files of the image and labels targets that the repository has no
example of (BMP, WebP, progressive JPEG, labels). Needs Pillow and numpy; the files are
committed."""
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
rng = np.random.default_rng(1)
img = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB")
img.save(HERE / "seed.bmp")
img.save(HERE / "seed.webp", lossless=True)
img.save(HERE / "seed_lossy.webp", quality=50)
img.save(HERE / "seed_progressive.jpg", progressive=True, quality=80)
img.convert("L").save(HERE / "seed_grey.jpg", quality=80)
img.convert("RGBA").save(HERE / "seed_rgba.png")
(HERE / "labels.txt").write_text("cat\ndog\n  bird \n\n3_T-shirt/top\n")
(HERE / "labels_crlf.txt").write_bytes(b"a\r\nb\r\n\xef\xbb\xbfc\r\n")
for f in sorted(HERE.iterdir()):
    print(f.name, f.stat().st_size)

# A small set of real images: two of each of the demo's first two class folders, stored and
# deflated (the two ways zips hold files).
import zipfile

with zipfile.ZipFile(HERE.parent.parent / "public/demo/fashion-mnist-sample.zip") as demo:
    names = sorted(n for n in demo.namelist() if n.endswith(".png"))
    classes = sorted({n.rsplit("/", 2)[-2] for n in names})[:2]
    picked = [n for c in classes for n in [m for m in names if f"/{c}/" in f"/{m}"][:2]]
    for mode, name in [(zipfile.ZIP_STORED, "small_set_stored.zip"), (zipfile.ZIP_DEFLATED, "small_set.zip")]:
        with zipfile.ZipFile(HERE / name, "w", mode) as out:
            for n in picked:
                out.writestr(n, demo.read(n))
