"""The web UIs the platform starts: optuna-dashboard and the MLflow UI, with a clean shutdown."""

from search.servers._servers import (
    DashboardServer,
    MlflowServer,
    ServeError,
    Server,
    check_port,
    mlflow_server,
    serve,
    url_of,
)

__all__ = [
    "DashboardServer",
    "MlflowServer",
    "ServeError",
    "Server",
    "check_port",
    "mlflow_server",
    "serve",
    "url_of",
]
