"""The batch work of `mlkit crop-align` (the only place it writes history), and the detection
pass that runs MTCNN over many photos at once before the batch runner writes the crops."""

from mlkit import provenance, ui
from mlkit.crop.face import FaceOptions, aligned, chosen, detector_input
from mlkit.crop.regions import RegionOptions, check_pair, cut, window
from mlkit.errors import MlkitError

BATCH = 8  # photos per detector call
BATCH_PIXELS = 8_000_000  # ...or fewer, so a batch of large photos stays small in memory


def align_faces(img, options=None, faces=None, label=None):
    """The aligned crops of `img`'s faces, each with one new history entry. `faces`: the
    detections (mlkit.crop.model.Detector.detect), found here when None."""
    options = options or FaceOptions()
    if faces is None:
        faces = detect([img], options)[0]
    keep = chosen(faces, options)
    if not keep:
        return _missing(label or img.name, faces, options)
    others = [_summary(f) for f in faces if all(f is not k for k in keep)]
    crops = []
    for k, face in enumerate(keep):
        crop, record = aligned(img, face, options)
        params = {**options.record(), "input": img.name, "face": k, "faces_found": len(faces), **record,
                  "other_faces": others}
        name = f"{img.name}_face{k}" if options.all_faces else img.name
        entry = provenance.entry("crop-align", params, cmdline=options.cmdline)
        crops.append(crop.replace(name=name).with_entry(entry))
    return crops


def _summary(face):
    return {"box": face["box"], "confidence": face["confidence"], "points_in": face["points"]}


def _missing(label, faces, options):
    why = "no face found"
    if faces:
        why += f" (the most confident one's {_below(faces[0], options)})"
    if options.skip_missing:
        ui.warn(f"{label}: {why}; skipped")
        return []
    raise MlkitError(why, "--skip-missing writes the others and exits 0")


def _below(face, options):
    """Which thresholds a face missed, e.g. 'confidence 0.812 is below --min-confidence 0.9'."""
    width, height = face["box"][2], face["box"][3]
    missed = []
    if face["confidence"] < options.min_confidence:
        missed.append(f"confidence {face['confidence']:.3f} is below --min-confidence {options.min_confidence:g}")
    if min(width, height) < options.min_face_size:
        missed.append(f"box {width:.0f}x{height:.0f} px is smaller than --min-face-size {options.min_face_size}")
    return " and ".join(missed) or "passes both thresholds"


def face_step(img, seedseq, extra=None, options=None):
    """Batch work function for face mode; `extra` is what detect_inputs found for this input."""
    extra = extra or {}
    return align_faces(img, options, extra.get("faces"), extra.get("label"))


def crop_region(img, seg=None, options=None):
    """(crop, crop of seg or None) for seg, foreground and center modes, with history."""
    options = options or RegionOptions()
    if options.mode == "seg" and seg is None:
        raise MlkitError("seg mode needs a segmentation", "give --seg SEG, one per input")
    if seg is not None:
        check_pair(img, seg)
    origin, side, found = window(img, seg, options)
    params = {**options.record(), **found, "origin": origin, "side": side}
    out = cut(img, origin, side, found["axes"], options.size, options.order)
    out = out.with_entry(provenance.entry("crop-align", params, cmdline=options.cmdline))
    if seg is None:
        return out, None
    seg_out = cut(seg, origin, side, found["axes"], options.size, 0, label=True)
    return out, seg_out.with_entry(provenance.entry("crop-align", {**params, "order": 0}, cmdline=options.cmdline))


def region_step(img, seedseq, extra=None, options=None):
    """Batch work function for seg, foreground and center modes; `extra` is the seg's path."""
    out, seg_out = crop_region(img, _read_seg(extra) if extra else None, options)
    return [out] if seg_out is None else [out, seg_out]


def _read_seg(path):
    from mlkit.io.read import read_image

    try:
        return read_image(path)
    except MlkitError as exc:
        raise MlkitError(f"segmentation {path}: {exc.message}", exc.hint) from None


def detect(images, options):
    """MTCNN's faces for each image, with this process's detector."""
    from mlkit.crop.model import detector

    photos = [detector_input(img) for img in images]  # a volume is refused before the detector loads
    return detector(options.device).detect(photos, options.min_face_size)


def detect_inputs(items, n_inputs, options, jobs=1):
    """The batch runner's extras for face mode: {"label", "faces"} per input, detected here in
    batches (over `jobs` processes, each loading the detector once). `items`: (index, path)
    of the inputs to run. Inputs not read here (stdin, unreadable, several images, not 2D)
    keep faces None: face_step detects them, or reports why it cannot."""
    extras = [{"label": None, "faces": None} for _ in range(n_inputs)]
    files = [(i, p) for i, p in items if p != "-"]
    for i, path in files:
        extras[i]["label"] = path
    chunks = [files[k:k + BATCH] for k in range(0, len(files), BATCH)]
    with ui.progress(len(chunks), "detecting") as advance:
        for found in _map(chunks, options, jobs):
            for i, faces in found:
                extras[i]["faces"] = faces
            advance()
    return extras


def _map(chunks, options, jobs):
    if jobs <= 1 or len(chunks) <= 1:
        yield from (_detect_chunk(chunk, options) for chunk in chunks)
        return
    from mlkit.crop.model import default_threads
    from mlkit.io import batch

    init = (dict(ui.state), options.device, default_threads(jobs))
    with batch.process_pool(jobs, _init_worker, init) as pool:
        try:
            yield from pool.map(_detect_chunk, chunks, [options] * len(chunks))
        except BaseException:
            batch.stop_workers(pool)
            raise


def _init_worker(state, device, threads):
    from mlkit.crop.model import detector
    from mlkit.io import batch

    batch.init_worker(state)
    detector(device, threads)  # now, so every chunk finds it loaded


def _detect_chunk(chunk, options):
    """[(index, faces)] for the photos of `chunk` that read as one 2D image each."""
    from mlkit.crop.model import detector
    from mlkit.io.read import read_images

    found, indices, arrays, pixels = [], [], [], 0
    for index, path in chunk:
        try:
            images = list(read_images(path))
            if len(images) != 1:
                continue
            arrays.append(detector_input(images[0]))
        except MlkitError:
            continue  # face_step meets the same error and reports it for this input
        indices.append(index)
        pixels += arrays[-1].shape[0] * arrays[-1].shape[1]
        if pixels >= BATCH_PIXELS:
            found += zip(indices, detector(options.device).detect(arrays, options.min_face_size))
            indices, arrays, pixels = [], [], 0
    if arrays:
        found += zip(indices, detector(options.device).detect(arrays, options.min_face_size))
    return found
