from mlkit.errors import stop_quietly_on_signals

stop_quietly_on_signals()  # before the imports below, which take a while

from mlkit.cli import main  # noqa: E402

main()
