"""The `mlkit` entry point: a lazy command registry and one error contract.

`mlkit --help` imports no numpy, nibabel, OpenCV, scipy or TensorFlow: a command's
module is imported only when that command runs.
"""

import importlib
import os
import signal
import sys
import threading

import click

from mlkit import __version__, ui
from mlkit.errors import Exit, MlkitError, UsageError, bug_message, stop_quietly_on_signals
from mlkit.errors import Interrupted as SavedOnInterrupt

# name -> (module, one-line help). The help lives here so listing imports nothing.
COMMANDS = {
    "augment": ("mlkit.commands.augment", "Random augmentation of images and volumes, segmentations kept aligned."),
    "eigenfaces": ("mlkit.commands.eigenfaces", "Train a face space; recognise, reconstruct, tell faces from non-faces."),
    "homography": ("mlkit.commands.homography", "Estimate planar homographies from point pairs and rectify images."),
    "info": ("mlkit.commands.info", "Describe images: format, shape, voxel size, orientation, range, history."),
    "transform": ("mlkit.commands.transform", "Point and geometric operations on images and volumes."),
    "regress": ("mlkit.commands.regress", "Linear regression done right: exact, gradient descent, L1/L2/elastic net, small MLP."),
    "view": ("mlkit.commands.view", "Draw volumes, photos and segmentations as a PNG: planes, lightboxes, mosaics."),
    "sample": ("mlkit.commands.sample", "List and write the bundled samples: MRI volumes, a segmentation, photos."),
    "compress": ("mlkit.commands.compress", "Autoencoder compression of image sets (.mlz), measured against JPEG, WebP, AVIF."),
    "train-gan": ("mlkit.commands.train_gan", "Train a DCGAN on image folders or MRI slices, with checkpoints and resume."),
    "generate": ("mlkit.commands.generate", "Generate images, grids or latent walks from a train-gan checkpoint."),
    "crop-align": ("mlkit.commands.crop_align", "Align faces on a landmark template; square crops around a segmentation or the foreground."),
    "stylize": ("mlkit.commands.stylize", "Neural style transfer: optimise one picture (Gatys), or train a network once and apply it fast."),
    "completion": ("mlkit.commands.completion", "Print the shell completion script for bash, zsh or fish."),
}

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args, registry=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry = registry or {}

    def list_commands(self, ctx):
        return sorted(self.registry)

    def get_command(self, ctx, name):
        if name not in self.registry:
            return None
        module = importlib.import_module(self.registry[name][0])
        if isinstance(module.command, click.Group):
            _name_subcommands(module.command, name)
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, self.registry[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        ui.state["command"] = name or ""
        return name, cmd, rest


def _name_subcommands(group, path):
    """Make messages say 'mlkit transform crop:', not 'mlkit transform:'."""
    if getattr(group, "_mlkit_named", False):
        return
    resolve = group.resolve_command

    def resolve_and_name(ctx, args):
        name, cmd, rest = resolve(ctx, args)
        ui.state["command"] = f"{path} {name}" if name else path
        if isinstance(cmd, click.Group):
            _name_subcommands(cmd, ui.state["command"])
        return name, cmd, rest

    group.resolve_command = resolve_and_name
    group._mlkit_named = True


class ReaderGone(Exception):
    """stdout was closed by its reader (`| head`)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, carried past click (which would print a blank line for it)."""


class MlkitGroup(LazyGroup):
    """The root group: turns every failure into one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise ReaderGone from None  # before click's own handler turns it into exit 1
        except KeyboardInterrupt:
            raise Interrupted from None

    def main(self, args=None, prog_name="mlkit", **extra):
        extra.pop("standalone_mode", None)
        args = global_options_first(sys.argv[1:] if args is None else list(args))
        code = _run_guarded(lambda: super(MlkitGroup, self).main(args, prog_name, standalone_mode=False, **extra))
        sys.exit(code)


GLOBAL_FLAGS = ("-q", "--quiet", "--debug")


def global_options_first(args):
    """-q and --debug work after the subcommand too: `mlkit transform log x -o y --debug`."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]


# click >= 8.2 raises this for a group called without a subcommand (older ones print the help).
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _run_guarded(call):
    ui.state["command"] = ""
    ui.quiet_libraries()
    try:
        if threading.current_thread() is threading.main_thread():  # signal handlers live there only
            signal.signal(signal.SIGTERM, _sigterm)  # first thing: from now on a signal unwinds
            signal.signal(signal.SIGINT, signal.default_int_handler)
        result = call()
        return result if isinstance(result, int) else Exit.OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except NO_ARGS_IS_HELP as exc:  # `mlkit transform` alone: its help, not a one-line error
        exc.show()
        return Exit.USAGE
    except click.UsageError as exc:
        hint = f"see '{exc.ctx.command_path} --help'" if exc.ctx else "see 'mlkit --help'"
        ui.error(f"{exc.format_message()} ({hint})")
        return Exit.USAGE
    except click.ClickException as exc:
        ui.error(exc.format_message())
        return exc.exit_code
    except MlkitError as exc:
        ui.traceback_if_debug()
        ui.error(str(exc))
        if isinstance(exc, SavedOnInterrupt):
            _INTERRUPTED[:] = [exc]  # as below: the process ends before TensorFlow's objects are freed
            return Exit.INTERRUPTED
        return Exit.USAGE if isinstance(exc, UsageError) else Exit.ERROR
    except (KeyboardInterrupt, Interrupted, click.Abort) as exc:
        ui.error("interrupted")
        # Keep the unwound frames alive: freeing TensorFlow's objects in them takes seconds,
        # and the process is about to end (see _exit_now).
        _INTERRUPTED[:] = [exc]
        return Exit.INTERRUPTED
    except (BrokenPipeError, ReaderGone):
        _silence_stdout()  # the reader asked for no more: not an error
        return Exit.OK
    except Exception as exc:
        if ui.state["debug"]:
            raise
        ui.error(bug_message(exc))
        return Exit.ERROR


def _silence_stdout():
    """The reader went away (`| head`): drop what is still buffered, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _sigterm(signum, frame):
    # Unwind like Ctrl-C so temporary files are removed on the way out.
    raise KeyboardInterrupt


@click.group(cls=MlkitGroup, registry=COMMANDS, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="mlkit")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks (also MLKIT_DEBUG=1).")
def cli(quiet, debug):
    """mlkit: command-line tools for 2D images and 3D/4D NIfTI volumes.

    Commands read files, folders, globs or '-' (stdin) and write a file, a
    folder or '-' (stdout). Between commands, images travel as a stream of
    NIfTI-1 images, each carrying its name and history.

    \b
    Examples:
      mlkit sample | mlkit augment - -n 5 --seed 1 -o demo/
      mlkit transform log scan.nii.gz | mlkit info - --json
    """
    ui.state["quiet"] = quiet
    ui.state["debug"] = ui.state["debug"] or debug
    ui.quiet_libraries()


def main():
    stop_quietly_on_signals()
    try:
        cli.main(prog_name="mlkit")
    except SystemExit as exc:
        if exc.code == Exit.INTERRUPTED:
            _exit_now(exc.code)
        raise


_INTERRUPTED = []


def _exit_now(code):
    """Ctrl-C: everything is saved and cleaned on the way up; run the exit handlers (they
    release multiprocessing's semaphores, say) but skip the interpreter's teardown, which
    takes seconds once TensorFlow is loaded, to exit within the second the README promises."""
    import atexit
    import threading

    # A pool's helper thread may raise as its workers die; after "interrupted" that is noise,
    # and os._exit would cut its report mid-line.
    threading.excepthook = lambda args: None
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
