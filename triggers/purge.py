"""The timer-triggered purge of leftovers and old history."""

import azure.durable_functions as df

bp = df.Blueprint()
