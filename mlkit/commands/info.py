"""`mlkit info`: what is in an image, and its history."""

import click

from mlkit.commands._output import format_option
from mlkit.commands._options import inputs_argument


@click.command()
@inputs_argument
@format_option()
@click.option("--json", "as_json", is_flag=True, hidden=True, help="The same as --format json.")
def command(inputs, fmt, as_json):
    """Describe images: format, shape, dtype (and the dtype on disk), voxel size,
    orientation, value range, NaN count, name and history. Reads files, folders,
    globs and streams (-). A file that cannot be read is named on stderr and the
    others are still described; the exit status is then 1.

    \b
    Examples:
      mlkit info scan.nii.gz photo.png
      mlkit transform log scan.nii.gz | mlkit info - --format json
    """
    from mlkit import ui
    from mlkit.commands._output import emit
    from mlkit.io.inputs import expand_inputs
    from mlkit.io.describe import as_text, describe_all

    paths = expand_inputs(inputs)
    failures = []

    def failed(label, message):
        failures.append(label)
        ui.error(f"{label}: {message}")

    fmt = "json" if as_json else fmt
    described = []
    for facts in describe_all(paths, failed):
        if fmt == "table":
            emit([facts], fmt, as_text)  # as each is read: a long batch shows progress
        else:
            described.append(facts)
    if fmt != "table" and (described or not failures):  # a failed run prints no results
        emit(described, fmt)
    if failures and len(paths) > 1:
        ui.error(f"{len(failures)} of {len(paths)} inputs failed")
    return 1 if failures else 0
