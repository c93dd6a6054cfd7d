"""Second sample app: a custom route prefix, a plain FunctionApp and a startup timer."""

import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest, context: func.Context) -> str:
    return f"hello from {context.function_name}"


@app.schedule(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    Path(os.environ["MINIMAL_MARKER"]).write_text(f"past_due={timer.past_due}")
