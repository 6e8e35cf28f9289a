"""`gameline api`: games scored on request, the served predictions, the models, performance,
alerts and retrains over HTTP; remote retrain and rollback; metrics and a status page."""

from gameline.flows.api.app import api_server, create_app, serve_api_in_thread

__all__ = ["api_server", "create_app", "serve_api_in_thread"]
