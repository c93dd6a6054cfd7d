"""Side-by-side benchmark: the notebook tool-calling loop against the app.

`make bench` (`python -m bench`) starts Azurite, the Azure OpenAI emulator and
devhost, asks the same questions through both, and prints wall time, model-service
requests and objects left behind, with the app's ratios to the baseline. See
docs/bench.md.
"""
