"""Reading and writing photos and videos for the de-identifier: orientation, metadata, audio."""

import io
import os
import subprocess
import tempfile

import cv2
import numpy as np
import PIL.Image

from ppgan_tf.data import images

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")
_FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_INTEROP_IFD = 0xA005
_ORIENTATION = 0x0112


class MediaError(ValueError):
    """A file that cannot be de-identified; the message names the file and the problem."""


def kind_of(path):
    extension = os.path.splitext(path)[1].lower()
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension in VIDEO_EXTENSIONS:
        return "video"
    return None


def read_photo(path, max_pixels=images.MAX_PIXELS):
    """(RGB uint8 photo, metadata dict of the source). EXIF orientation is applied to the pixels.

    Photos whose header declares more than `max_pixels` are refused before decoding.

    The metadata holds what `--keep-metadata` may carry over: the EXIF and the ICC colour profile.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise MediaError(f"{path}: cannot read ({error.strerror})") from None
    metadata, frames = {}, 1
    try:
        with PIL.Image.open(io.BytesIO(data)) as header:
            frames = getattr(header, "n_frames", 1)
            metadata = {"exif": header.getexif(), "icc_profile": header.info.get("icc_profile")}
    except (PIL.UnidentifiedImageError, OSError, ValueError):
        pass  # the decoder below names the problem
    if frames > 1:
        raise MediaError(f"{path}: animated image ({frames} frames): convert it to a video first")
    try:
        photo = images.decode_image_bytes(data, 3, path, max_pixels)
    except images.ImageError as error:
        raise MediaError(str(error)) from None
    return photo, metadata


def encode_photo(photo, extension, metadata=None):
    """Encoded bytes of an RGB photo, without metadata unless `metadata` is given.

    Given, its EXIF is kept except the location (GPS) and the orientation
    (the pixels are already upright), and its ICC profile is kept. XMP is
    never copied: it can carry the location too.
    """
    extension = extension.lower()
    if extension == ".pgm":  # PGM holds grey only
        photo = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    if metadata is None:
        jpeg = extension in (".jpg", ".jpeg")
        pixels = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg" if jpeg else extension, pixels, [cv2.IMWRITE_JPEG_QUALITY, 95] if jpeg else [])
        if not ok:
            raise MediaError(f"cannot encode a {extension} image")
        return data.tobytes()
    exif = metadata.get("exif") or PIL.Image.Exif()
    kept = PIL.Image.Exif()
    for tag, value in exif.items():
        if tag not in (_GPS_IFD, _ORIENTATION, _EXIF_IFD):  # pixels are already upright; the location goes
            kept[tag] = value
    # The camera's sub-IFD (exposure, dates, lens) is copied as its tags, not as a pointer into the source file.
    camera = {tag: value for tag, value in exif.get_ifd(_EXIF_IFD).items() if tag != _INTEROP_IFD}
    if camera:
        kept[_EXIF_IFD] = camera
    buffer = io.BytesIO()
    file_format = PIL.Image.registered_extensions().get(extension, "PNG")
    options = {"quality": 95} if file_format == "JPEG" else {}
    if metadata.get("icc_profile"):
        options["icc_profile"] = metadata["icc_profile"]
    PIL.Image.fromarray(photo).save(buffer, file_format, exif=kept.tobytes(), **options)
    return buffer.getvalue()


def temporary_beside(path, suffix=".partial"):
    """A new empty file beside `path` (same folder, so renaming it into place is atomic)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=suffix)
    os.close(handle)
    return temporary


def move_into_place(temporary, path):
    """Renames a finished temporary file onto `path`, with the permissions any new file gets (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp made it 0600
    os.replace(temporary, path)


def write_atomically(path, data):
    """Writes beside the target, then renames: a crash never leaves half a file."""
    temporary = temporary_beside(path)
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        move_into_place(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def open_video(path):
    """(capture, fps, (width, height), frame count) of a video file or a webcam index."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise MediaError(f"{path}: cannot open as a video (missing, corrupt or unsupported codec)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if size[0] <= 0 or size[1] <= 0:
        capture.release()
        raise MediaError(f"{path}: the video has no readable frames")
    return capture, fps, size, count


def video_writer(path, fps, size):
    extension = os.path.splitext(path)[1].lower()
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*_FOURCC.get(extension, "mp4v")), fps, size)
    if not writer.isOpened():
        raise MediaError(f"{path}: cannot write a {extension} video here")
    return writer


def add_audio(video_only, source, out_path):
    """Muxes the source's audio (if any) with the de-identified frames, dropping all metadata.

    ffmpeg writes beside `out_path` and the result is renamed into place, as every output is.
    """
    import imageio_ffmpeg

    temporary = temporary_beside(out_path, suffix=os.path.splitext(out_path)[1])
    try:
        command = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", video_only, "-i", source,
            "-map", "0:v:0", "-map", "1:a?", "-c", "copy", "-map_metadata", "-1", temporary,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise MediaError(f"{source}: could not copy the audio ({result.stderr.strip()[-200:]})")
        move_into_place(temporary, out_path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def rgb(frame_bgr):
    return np.ascontiguousarray(frame_bgr[:, :, ::-1])
