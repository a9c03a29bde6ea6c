from mlkit.cli import main

main()
