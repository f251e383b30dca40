"""Makes the hostile and unusual images, zips and .npy files of tests/bad_inputs (needs Pillow
and numpy; the files are committed, so the tests need no Python). Each is small; what each must
get is in README.md."""
import io
import zlib
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
rng = np.random.default_rng(0)


def rgb(w=16, h=16):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


# Images a camera, a scanner or an editor can write: each must be converted and predicted.
Image.fromarray(rng.integers(0, 65536, (16, 16), dtype=np.uint16)).save(HERE / "grey16.png")
rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(HERE / "palette.png")
rgb().convert("CMYK").save(HERE / "cmyk.jpg", quality=90)
rgb().convert("LA").save(HERE / "grey_alpha.png")
frames = [rgb() for _ in range(3)]
frames[0].save(HERE / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
Image.new("RGB", (1, 1), (200, 30, 30)).save(HERE / "one_pixel.png")
Image.new("RGB", (16, 16), (128, 128, 128)).save(HERE / "constant.png")

# A PNG cut off halfway (an interrupted download).
buf = io.BytesIO()
rgb(64, 64).save(buf, "PNG")
(HERE / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


# A PNG whose header declares 100000x100000 pixels (30 GB decoded) over a few bytes of data.
def chunk(kind, data):
    return (len(data).to_bytes(4, "big") + kind + data
            + zlib.crc32(kind + data).to_bytes(4, "big"))


ihdr = (100000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
(HERE / "huge_declared.png").write_bytes(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    + chunk(b"IEND", b""))


def png(color):
    b = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(b, "PNG")
    return b.getvalue()


def zip_of(name, entries):
    with zipfile.ZipFile(HERE / name, "w", zipfile.ZIP_DEFLATED) as z:
        for entry, data in entries:
            # A fixed date, so that making the files again changes nothing.
            info = zipfile.ZipInfo(entry, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if data is None else zipfile.ZIP_DEFLATED
            z.writestr(info, b"" if data is None else data)


# Entries that escape the folder: must not be written anywhere or confused with the set.
zip_of("escaping_names.zip", [
    ("a/1.png", png((255, 0, 0))), ("b/1.png", png((0, 0, 255))),
    ("../../evil/x.png", png((0, 255, 0))), ("/abs/y.png", png((0, 255, 0))),
])
# The same name twice: which one is read must not depend on order silently.
zip_of("duplicate_names.zip", [
    ("a/1.png", png((255, 0, 0))), ("a/1.png", png((0, 255, 0))), ("b/1.png", png((0, 0, 255))),
])
# A zip inside the zip: not followed.
inner = io.BytesIO()
with zipfile.ZipFile(inner, "w") as z:
    z.writestr(zipfile.ZipInfo("c/1.png", date_time=(2026, 1, 1, 0, 0, 0)), png((1, 2, 3)))
zip_of("nested.zip", [("a/1.png", png((255, 0, 0))), ("b/1.png", png((0, 0, 255))),
                      ("b/inner.zip", inner.getvalue())])
# A class folder with no images in it.
zip_of("empty_class.zip", [("a/1.png", png((255, 0, 0))), ("b/1.png", png((0, 0, 255))), ("c/", None)])
# One class only.
zip_of("one_class.zip", [("a/1.png", png((255, 0, 0))), ("a/2.png", png((250, 0, 0)))])
# Not a zip at all, and a zip cut in half.
(HERE / "not_a_zip.zip").write_bytes(b"PK\x03\x04 this is not really a zip archive")
whole = (HERE / "one_class.zip").read_bytes()
(HERE / "truncated.zip").write_bytes(whole[: len(whole) // 2])

# .npy inputs of the wrong kind.
np.save(HERE / "int64.npy", np.zeros((1, 1, 28, 28), dtype=np.int64))
np.save(HERE / "float64.npy", np.zeros((1, 1, 28, 28), dtype=np.float64))
np.save(HERE / "wrong_shape.npy", np.zeros((3, 5), dtype=np.float32))
np.save(HERE / "nan_input.npy", np.full((1, 1, 28, 28), np.nan, dtype=np.float32))
np.save(HERE / "batch0.npy", np.zeros((0, 1, 28, 28), dtype=np.float32))
raw = (HERE / "wrong_shape.npy").read_bytes()
(HERE / "truncated.npy").write_bytes(raw[: len(raw) - 20])
# A header that declares 1e12 elements over 16 bytes of data.
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
(HERE / "lying_header.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 16)

for f in sorted(HERE.iterdir()):
    if f.suffix in {".png", ".jpg", ".gif", ".zip", ".npy"}:
        print(f.name, f.stat().st_size, "bytes")
