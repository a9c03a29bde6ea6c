"""`mlkit info`: what is in an image, and its history."""

import click

from mlkit.commands.options import inputs_argument


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image (a list when there are several).")
def command(inputs, as_json):
    """Describe images: format, shape, dtype, voxel size, orientation, value range,
    NaN count, name and history. Reads files, folders, globs and streams (-).

    \b
    Examples:
      mlkit info scan.nii.gz photo.png
      mlkit transform log scan.nii.gz | mlkit info - --json
    """
    import json

    from mlkit import ui
    from mlkit.errors import MlkitError
    from mlkit.io.batch import expand_inputs
    from mlkit.io.describe import as_text, describe
    from mlkit.io.read import read_images

    described, failed = [], 0
    for path in expand_inputs(inputs):
        try:
            for img in read_images(path):
                facts = describe(img, "stdin" if path == "-" else path)
                if as_json:
                    described.append(facts)
                else:
                    click.echo(as_text(facts))
        except MlkitError as exc:
            failed += 1
            ui.error(f"{path}: {exc}")
    if as_json and described:
        payload = described[0] if len(described) == 1 else described
        click.echo(json.dumps(payload, indent=2))
    return 1 if failed else 0
