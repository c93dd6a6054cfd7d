"""`make run`: the whole app locally on embedded defaults.

Starts Azurite (Storage), the Azure OpenAI emulator (unless a real endpoint is
configured) and devhost with this repository's `function_app.py`, asks the seed
question through `POST /api/runs`, prints the answer, and keeps serving until
Ctrl-C stops everything it started.
"""
