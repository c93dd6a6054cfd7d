"""Activity functions: thin adapters from Durable Functions to the core."""

import azure.durable_functions as df

bp = df.Blueprint()
