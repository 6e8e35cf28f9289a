"""`gameline api`: games scored on request, the served predictions, the models, performance,
alerts and retrains over HTTP; remote retrain and rollback; metrics and a status page."""

from gameline.flows.api.app import create_app, serve_api, serve_api_in_thread

__all__ = ["create_app", "serve_api", "serve_api_in_thread"]
