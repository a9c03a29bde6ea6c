"""`mlkit sample`: the bundled samples, so a newcomer can try every command."""

import click

from mlkit.commands._options import FILE


def _complete_names(ctx, param, incomplete):
    from click.shell_completion import CompletionItem

    from mlkit.samples import SAMPLES

    return [CompletionItem(key, help=what) for key, (_, what) in SAMPLES.items() if key.startswith(incomplete)]


@click.command()
@click.argument("name", required=False, metavar="[NAME]", shell_complete=_complete_names)
@click.option("-o", "--output", metavar="OUT", **FILE, help="File (a folder for an image set) to write [default: the stream on stdout].")
@click.option("--list", "listing", is_flag=True, help="List the samples (also what a bare `mlkit sample` does on a terminal).")
def command(name, output, listing):
    """Write a bundled sample (t1 by default) to OUT, or to stdout as an mlkit stream.
    A file with the sample's own extension is a byte-for-byte copy. An image set (faces)
    goes into a folder, one subfolder per label.

    \b
    Examples:
      mlkit sample t1_seg -o t1_seg.nii.gz
      mlkit sample | mlkit transform rotate --angle 15 - -o demo/
      mlkit sample faces -o lfw/        # lfw/face/face_000.png ... lfw/nonface/nonface_099.png
    """
    import sys

    from mlkit.samples import SAMPLES

    if listing or (name is None and output is None and sys.stdout.isatty()):
        for key, (filename, what) in SAMPLES.items():
            click.echo(f"{key:<10}{filename:<16}{what}")
        return 0
    name = name or "t1"
    if name not in SAMPLES:
        raise click.BadParameter(f"no sample {name!r}; choose from {', '.join(SAMPLES)}", param_hint="NAME")
    _write(name, output)
    return 0


def _write(name, output):
    import shutil

    from mlkit.io.read import read_image, suffix
    from mlkit.io.write import StreamWriter, atomic_write, refuse_terminal, write_image
    from mlkit.samples import SAMPLES, SETS, path

    if name in SETS:
        return _write_set(name, output)
    source = path(name)
    if output in (None, "-"):
        refuse_terminal()
        StreamWriter().write(read_image(source))
    elif suffix(output) == suffix(SAMPLES[name][0]):
        with open(source, "rb") as raw, atomic_write(output) as out:
            shutil.copyfileobj(raw, out)
    else:
        write_image(read_image(source), output)


def _write_set(name, output):
    """One PNG per image under OUTPUT/<label>/, or every image on the stream."""
    import os

    from mlkit.io.image import Image
    from mlkit.io.write import StreamWriter, refuse_terminal, write_image
    from mlkit.samples import set_images

    if output in (None, "-"):
        refuse_terminal()
        writer = StreamWriter()
        for _, stem, pixels in set_images(name):
            writer.write(Image(pixels, name=stem))
        return
    if not (output.endswith("/") or os.path.isdir(output)):
        raise click.BadParameter(f"{name} is a set of images: give a folder (end it with /)", param_hint="-o")
    for label, stem, pixels in set_images(name):
        os.makedirs(os.path.join(output, label), exist_ok=True)
        write_image(Image(pixels, name=stem), os.path.join(output, label, stem + ".png"))
