"""`mlkit sample`: the bundled sample volume, so a newcomer can try every command."""

import click


@click.command()
@click.option("-o", "--output", metavar="OUT", help="File to write (default: the stream on stdout).")
def command(output):
    """Write the sample T1 MRI volume that ships with mlkit (33 x 41 x 25, 2 mm,
    from nibabel's test data) to OUT or to stdout as an mlkit stream.

    \b
    Examples:
      mlkit sample -o t1.nii.gz
      mlkit sample | mlkit transform rotate --angle 15 - -o demo/
    """
    from mlkit.io.read import read_image
    from mlkit.io.write import StreamWriter, refuse_terminal, write_image
    from mlkit.samples import path

    img = read_image(path("t1"))
    if output in (None, "-"):
        refuse_terminal()
        StreamWriter().write(img)
    else:
        write_image(img, output)
    return 0
