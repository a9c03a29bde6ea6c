"""`mlkit info`: what is in an image, and its history."""

import click

from mlkit.commands.options import inputs_argument


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="A JSON list with one object per image.")
def command(inputs, as_json):
    """Describe images: format, shape, dtype (and the dtype on disk), voxel size,
    orientation, value range, NaN count, name and history. Reads files, folders,
    globs and streams (-). A file that cannot be read is named on stderr and the
    others are still described; the exit status is then 1.

    \b
    Examples:
      mlkit info scan.nii.gz photo.png
      mlkit transform log scan.nii.gz | mlkit info - --json
    """
    from mlkit import ui
    from mlkit.io.batch import expand_inputs
    from mlkit.io.describe import as_json_text, as_text, describe_all

    paths = expand_inputs(inputs)
    failures = []

    def failed(label, message):
        failures.append(label)
        ui.error(f"{label}: {message}")

    described = []
    for facts in describe_all(paths, failed):
        if as_json:
            described.append(facts)
        else:
            click.echo(as_text(facts))
    if as_json:
        click.echo(as_json_text(described))
    if failures and len(paths) > 1:
        ui.error(f"{len(failures)} of {len(paths)} inputs failed")
    return 1 if failures else 0
