from pysandbox.cli import run

run()
