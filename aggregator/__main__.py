from aggregator.cli import app

app(prog_name="aggregator")
