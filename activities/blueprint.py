"""The blueprint every activity registers on (`function_app` registers it)."""

import azure.durable_functions as df

bp = df.Blueprint()
